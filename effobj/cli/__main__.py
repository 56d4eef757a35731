import sys

from effobj.cli import main

sys.exit(main())
