"""Reference models written by hand, with their hand-counted MACs.

ResNet-18/50 and MobileNetV2 follow torchvision's definitions (ResNet v1.5: the stride
sits on the 3x3 convolution of a bottleneck), ViT-Ti/16 follows timm's
``vit_tiny_patch16_224`` but is built from ``nn.MultiheadAttention``, and the BERT-base
encoder (with pooler) follows Hugging Face's ``bert-base-uncased`` but calls
``F.scaled_dot_product_attention``. Parameter counts match the published models exactly.

The ``*_macs`` functions count multiply-accumulates of the convolutions and matmuls with
closed formulas, layer by layer, without running anything: they are the hand count the
profiler is checked against. Batch size 1, 224 x 224 images, sequence length 128.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PUBLISHED",
    "bert_base",
    "bert_base_macs",
    "mobilenet_v2",
    "mobilenet_v2_macs",
    "resnet18",
    "resnet18_macs",
    "resnet50",
    "resnet50_macs",
    "vit_tiny",
    "vit_tiny_macs",
]

#: name -> (published parameters or None, published MACs)
PUBLISHED: dict[str, tuple[int | None, float]] = {
    "resnet18": (11_689_512, 1.82e9),
    "resnet50": (25_557_032, 4.11e9),
    "mobilenet_v2": (3_504_872, 0.30e9),
    "vit_tiny": (5_717_416, 1.25e9),
    "bert_base": (None, 11.2e9),
}


# ---------------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


class ResNet(nn.Module):
    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        stages = []
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, 2 if (i > 0 and j == 0) else 1))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18() -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2])


def resnet50() -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3])


def _conv(h: int, cin: int, cout: int, k: int, groups: int = 1) -> int:
    """MACs of a convolution with an h x h output."""
    return h * h * cout * (cin // groups) * k * k


def resnet18_macs() -> int:
    macs = _conv(112, 3, 64, 7)
    h, cin = 56, 64
    for i, planes in enumerate((64, 128, 256, 512)):
        if i > 0:
            h //= 2
        for j in range(2):
            macs += _conv(h, cin, planes, 3) + _conv(h, planes, planes, 3)
            if j == 0 and cin != planes:
                macs += _conv(h, cin, planes, 1)
            cin = planes
    return macs + 512 * 1000


def resnet50_macs() -> int:
    macs = _conv(112, 3, 64, 7)
    h_in, cin = 56, 64
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True)):
        for j in range(n):
            h = h_in // 2 if (i > 0 and j == 0) else h_in
            macs += _conv(h_in, cin, planes, 1)  # 1x1 reduce, at the input resolution
            macs += _conv(h, planes, planes, 3)  # 3x3, strided in the first block
            macs += _conv(h, planes, planes * 4, 1)  # 1x1 expand
            if j == 0:
                macs += _conv(h, cin, planes * 4, 1)  # downsample
            cin, h_in = planes * 4, h
    return macs + 2048 * 1000


# ---------------------------------------------------------------------------- MobileNetV2
def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn(cin, hidden, 1))
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, cout, 1, act=False)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


_MBV2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in _MBV2:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2() -> MobileNetV2:
    return MobileNetV2()


def mobilenet_v2_macs() -> int:
    macs = _conv(112, 3, 32, 3)
    h, cin = 112, 32
    for t, c, n, s in _MBV2:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            if t != 1:
                macs += _conv(h, cin, hidden, 1)
            h //= stride
            macs += _conv(h, hidden, hidden, 3, groups=hidden)  # depthwise
            macs += _conv(h, hidden, c, 1)
            cin = c
    return macs + _conv(h, cin, 1280, 1) + 1280 * 1000


# ---------------------------------------------------------------------------- ViT-Ti/16
class ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, dim: int = 192, depth: int = 12, heads: int = 3, mlp: int = 768,
                 patch: int = 16, image: int = 224, num_classes: int = 1000) -> None:
        super().__init__()
        n = (image // patch) ** 2
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[ViTBlock(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def vit_tiny() -> ViT:
    return ViT()


def vit_tiny_macs(dim: int = 192, depth: int = 12, mlp: int = 768, tokens: int = 197) -> int:
    per_block = tokens * dim * 3 * dim  # q, k, v projections
    per_block += 2 * tokens * tokens * dim  # q k^T and attn v, summed over heads
    per_block += tokens * dim * dim  # output projection
    per_block += 2 * tokens * dim * mlp  # MLP
    patch = _conv(14, 3, dim, 16)
    return patch + depth * per_block + dim * 1000


# ---------------------------------------------------------------------------- BERT-base
class BertLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.attn_out = nn.Linear(dim, dim)
        self.attn_norm = nn.LayerNorm(dim, eps=1e-12)
        self.intermediate = nn.Linear(dim, ffn)
        self.output = nn.Linear(ffn, dim)
        self.out_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        a = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)))
        x = self.attn_norm(x + self.attn_out(a.transpose(1, 2).reshape(b, n, d)))
        return self.out_norm(x + self.output(F.gelu(self.intermediate(x))))


class BertEncoder(nn.Module):
    def __init__(self, vocab: int = 30522, dim: int = 768, depth: int = 12, heads: int = 12,
                 ffn: int = 3072, max_len: int = 512, type_vocab: int = 2) -> None:
        super().__init__()
        self.word = nn.Embedding(vocab, dim)
        self.position = nn.Embedding(max_len, dim)
        self.token_type = nn.Embedding(type_vocab, dim)
        self.emb_norm = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.Sequential(*[BertLayer(dim, heads, ffn) for _ in range(depth)])
        self.pooler = nn.Linear(dim, dim)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = input_ids.shape[1]
        pos = torch.arange(n, device=input_ids.device)
        x = self.word(input_ids) + self.position(pos) + self.token_type(torch.zeros_like(input_ids))
        x = self.layers(self.emb_norm(x))
        return x, torch.tanh(self.pooler(x[:, 0]))


def bert_base(depth: int = 12) -> BertEncoder:
    return BertEncoder(depth=depth)


#: Hugging Face's bert-base-uncased BertModel (embeddings, 12 layers, pooler)
BERT_BASE_PARAMS = 109_482_240


def bert_base_macs(seq: int = 128, dim: int = 768, depth: int = 12, ffn: int = 3072) -> int:
    per_layer = 4 * seq * dim * dim + 2 * seq * seq * dim + 2 * seq * dim * ffn
    return depth * per_layer + dim * dim  # + pooler on the first token


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _check() -> None:  # pragma: no cover - a quick manual check: python reference_models.py
    for name in ("resnet18", "resnet50", "mobilenet_v2", "vit_tiny"):
        with torch.device("meta"):
            m = globals()[name]()
        print(name, count_params(m), globals()[f"{name}_macs"](), PUBLISHED[name])
    with torch.device("meta"):
        print("bert_base", count_params(bert_base()), bert_base_macs(), math.nan)


if __name__ == "__main__":  # pragma: no cover
    _check()
