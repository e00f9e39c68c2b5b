"""Generative models of seed 004 (ASAL, Mayer & Timofte 2020): WGAN-GP generators and critics,
and the auto-encoders whose codes are the ``auto`` feature space.

- :class:`Generator28` / :class:`Critic28`: Table 5 for 28×28 images, as in the WGAN-GP
  reference code ``gan_mnist.py`` (Gulrajani et al.) that the paper follows, with the two typos of
  Table 5 corrected (spec seed004 §2): the last deconvolution has **1** output channel (not 64)
  and the critic's linear layer reads **4096** = 4·4·256 inputs (not 3136). ``width`` is the
  reference code's ``DIM`` (64 in the paper; 32 trains ≈ 4× faster on a CPU). No BatchNorm, as in
  the reference ``wgan-gp`` mode.
- :class:`MLPGenerator` / :class:`MLPCritic`: the small versions for 8×8 digits and 2-D toys
  (spec §5: G 128→256→64 with a sigmoid, D 64→256→256→1).
- :class:`ConvAutoencoder`: Table 4 (three 5×5 stride-2 convolutions 3→6→12 with leaky ReLU,
  code ``4×4×12 = 192`` at 28×28; 5×5 deconvolutions 6→3→1 with ReLU, ReLU, sigmoid). The
  paper's "φ∘ψ" is ψ∘φ: decode after encode. :class:`MLPAutoencoder` for flat inputs.

Every critic offers :meth:`features` (its last hidden layer, the ``disc`` features of §3.2) and
every auto-encoder :meth:`encode` (the ``auto`` features); both return ``B × D_F``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from alkit.errors import AlkitError, check_positive_int

LATENT_DIM = 128
LEAK = 0.2
GAN_ARCHS = ("auto", "conv28", "mlp")
AE_ARCHS = ("auto", "conv", "mlp")


class Generator28(nn.Module):
    """G: ``z_B_L`` → images ``B × C × 28 × 28`` in (0, 1) (Table 5, ``gan_mnist.py``).

    linear L → 4·4·4w, ReLU → 5×5 deconv 4w → 2w (4 → 8, cropped to 7), ReLU → 5×5 deconv
    2w → w (7 → 14), ReLU → 5×5 deconv w → C (14 → 28), sigmoid. ``width`` w = 64 gives the
    paper's 128 × 4096 linear layer and ≈ 1.55M parameters.
    """

    def __init__(self, latent_dim: int = LATENT_DIM, width: int = 64, out_channels: int = 1):
        super().__init__()
        self.latent_dim, self.width = latent_dim, width
        self.output_shape = (out_channels, 28, 28)
        self.fc = nn.Linear(latent_dim, 4 * 4 * 4 * width)
        self.deconv1 = nn.ConvTranspose2d(4 * width, 2 * width, 5, 2, 2, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d(2 * width, width, 5, 2, 2, output_padding=1)
        self.deconv3 = nn.ConvTranspose2d(width, out_channels, 5, 2, 2, output_padding=1)

    def forward(self, z_B_L: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc(z_B_L)).view(-1, 4 * self.width, 4, 4)
        h = F.relu(self.deconv1(h))[:, :, :7, :7]
        h = F.relu(self.deconv2(h))
        return torch.sigmoid(self.deconv3(h))


class Critic28(nn.Module):
    """D: images ``B × C × 28 × 28`` → ``B`` real-valued scores (Table 5, ``gan_mnist.py``).

    5×5 stride-2 convs C → w → 2w → 4w (28 → 14 → 7 → 4), each with leaky ReLU(0.2), then a
    linear layer from the flattened ``4·4·4w`` (4096 at w = 64) to 1. :meth:`features` is that
    flattened layer: the ``disc`` feature space of ASAL (§3.2, F_disc = D^{j−1}).
    """

    def __init__(self, width: int = 64, in_channels: int = 1):
        super().__init__()
        self.width = width
        self.conv1 = nn.Conv2d(in_channels, width, 5, 2, 2)
        self.conv2 = nn.Conv2d(width, 2 * width, 5, 2, 2)
        self.conv3 = nn.Conv2d(2 * width, 4 * width, 5, 2, 2)
        self.fc = nn.Linear(4 * 4 * 4 * width, 1)

    @property
    def feature_dim(self) -> int:
        return self.fc.in_features

    def features(self, x_B: torch.Tensor) -> torch.Tensor:
        """The last hidden layer, ``B × 16·4w``."""
        h = F.leaky_relu(self.conv1(x_B), LEAK)
        h = F.leaky_relu(self.conv2(h), LEAK)
        return torch.flatten(F.leaky_relu(self.conv3(h), LEAK), 1)

    def forward(self, x_B: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x_B)).squeeze(1)


class MLPGenerator(nn.Module):
    """G: ``z_B_L`` → ``B × output_shape``: [linear → ReLU] × len(hidden) → linear → ``output``
    (``"sigmoid"`` for images in [0, 1], ``"identity"`` for unbounded toy coordinates)."""

    def __init__(
        self,
        output_shape,
        latent_dim: int = LATENT_DIM,
        hidden=(256,),
        output: str = "sigmoid",
    ):
        super().__init__()
        if output not in ("sigmoid", "identity"):
            raise AlkitError(f"output must be 'sigmoid' or 'identity', got {output!r}")
        self.latent_dim, self.output_shape, self.output = latent_dim, tuple(output_shape), output
        dims = [latent_dim, *hidden]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.out = nn.Linear(dims[-1], math.prod(self.output_shape))

    def forward(self, z_B_L: torch.Tensor) -> torch.Tensor:
        h = z_B_L
        for layer in self.layers:
            h = F.relu(layer(h))
        h = self.out(h)
        if self.output == "sigmoid":
            h = torch.sigmoid(h)
        return h.view(-1, *self.output_shape)


class MLPCritic(nn.Module):
    """D: ``B × input_shape`` → ``B`` scores: flatten → [linear → leaky ReLU(0.2)] × len(hidden)
    → linear to 1. :meth:`features` is the last hidden layer, ``B × hidden[-1]``."""

    def __init__(self, input_shape, hidden=(256, 256)):
        super().__init__()
        dims = [math.prod(input_shape), *hidden]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.fc = nn.Linear(dims[-1], 1)

    @property
    def feature_dim(self) -> int:
        return self.fc.in_features

    def features(self, x_B: torch.Tensor) -> torch.Tensor:
        h = torch.flatten(x_B, 1)
        for layer in self.layers:
            h = F.leaky_relu(layer(h), LEAK)
        return h

    def forward(self, x_B: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x_B)).squeeze(1)


def _conv_out(size: int) -> int:
    """Spatial size after a 5×5 stride-2 convolution with padding 2 ("SAME")."""
    return (size - 1) // 2 + 1


class ConvAutoencoder(nn.Module):
    """Table 4: encoder φ = three 5×5 stride-2 convs (``channels``, default 3 → 6 → 12; the binary
    MNIST runs divide them by three: 1 → 2 → 4), each with leaky ReLU(0.2); decoder ψ = 5×5
    stride-2 deconvs back through the channels in reverse (6 → 3 → C), ReLU, ReLU, sigmoid.

    Input ``B × C × H × W`` in [0, 1]; the code is ``B × (h·w·channels[-1])`` with
    ``h = ⌈H/8⌉`` (28 → 14 → 7 → 4, so 192 at the defaults). The deconvolutions' output padding
    is chosen so that ψ(φ(x)) has exactly the input size.
    """

    def __init__(self, input_shape=(1, 28, 28), channels=(3, 6, 12)):
        super().__init__()
        c, h, w = input_shape
        self.input_shape = tuple(input_shape)
        self.channels = tuple(int(k) for k in channels)
        sizes = [(h, w)]
        for _ in self.channels:
            sizes.append((_conv_out(sizes[-1][0]), _conv_out(sizes[-1][1])))
        self.code_shape = (self.channels[-1], *sizes[-1])
        chans_in = [c, *self.channels[:-1]]
        self.enc = nn.ModuleList(
            nn.Conv2d(a, b, 5, 2, 2) for a, b in zip(chans_in, self.channels, strict=True)
        )
        dec = []
        outs = [*reversed(chans_in)]  # 6, 3, C
        ins = [*reversed(self.channels)]  # 12, 6, 3
        for i, (a, b) in enumerate(zip(ins, outs, strict=True)):
            src, dst = sizes[-1 - i], sizes[-2 - i]
            pad = (dst[0] - (2 * src[0] - 1), dst[1] - (2 * src[1] - 1))
            dec.append(nn.ConvTranspose2d(a, b, 5, 2, 2, output_padding=pad))
        self.dec = nn.ModuleList(dec)

    @property
    def code_dim(self) -> int:
        return math.prod(self.code_shape)

    def encode(self, x_B: torch.Tensor) -> torch.Tensor:
        """φ(x): the flattened code, ``B × code_dim`` (the ``auto`` features of §3.2)."""
        h = x_B
        for conv in self.enc:
            h = F.leaky_relu(conv(h), LEAK)
        return torch.flatten(h, 1)

    def decode(self, code_B_K: torch.Tensor) -> torch.Tensor:
        """ψ(code): images ``B × C × H × W`` in (0, 1)."""
        h = code_B_K.view(-1, *self.code_shape)
        for i, deconv in enumerate(self.dec):
            h = deconv(h)
            h = torch.sigmoid(h) if i == len(self.dec) - 1 else F.relu(h)
        return h

    def forward(self, x_B: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x_B))


class MLPAutoencoder(nn.Module):
    """A dense auto-encoder for flat or tiny inputs (8×8 digits, 2-D toys):
    flatten → linear → ReLU → linear to ``code_dim`` | linear → ReLU → linear → ``output``."""

    def __init__(self, input_shape, hidden: int = 128, code_dim: int = 16, output="sigmoid"):
        super().__init__()
        if output not in ("sigmoid", "identity"):
            raise AlkitError(f"output must be 'sigmoid' or 'identity', got {output!r}")
        self.input_shape, self.output = tuple(input_shape), output
        d = math.prod(self.input_shape)
        self.encoder = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, code_dim))
        self.decoder = nn.Sequential(nn.Linear(code_dim, hidden), nn.ReLU(), nn.Linear(hidden, d))

    @property
    def code_dim(self) -> int:
        return self.encoder[-1].out_features

    def encode(self, x_B: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.flatten(x_B, 1))

    def decode(self, code_B_K: torch.Tensor) -> torch.Tensor:
        h = self.decoder(code_B_K)
        if self.output == "sigmoid":
            h = torch.sigmoid(h)
        return h.view(-1, *self.input_shape)

    def forward(self, x_B: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x_B))


def _is_image(shape) -> bool:
    return len(shape) == 3


def build_gan(
    input_shape,
    latent_dim: int = LATENT_DIM,
    width: int = 64,
    arch: str = "auto",
    bounded: bool = True,
) -> tuple[nn.Module, nn.Module]:
    """``(generator, critic)`` for samples of ``input_shape`` (without the batch dimension).

    ``arch="auto"`` takes :class:`Generator28`/:class:`Critic28` for ``C × 28 × 28`` images and
    the MLP pair otherwise (hidden widths ``4·width``: 256 at the default, as spec §5 gives for
    digits). ``bounded=False`` drops the generator's sigmoid (2-D toys live outside [0, 1]).
    """
    shape = tuple(int(s) for s in input_shape)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    width = check_positive_int("width", width)
    if arch not in GAN_ARCHS:
        raise AlkitError(f"arch must be one of {GAN_ARCHS}, got {arch!r}")
    conv_ok = _is_image(shape) and shape[1:] == (28, 28)
    if arch == "conv28" and not conv_ok:
        raise AlkitError(f"arch='conv28' needs C × 28 × 28 inputs, got shape {shape}")
    if arch == "conv28" or (arch == "auto" and conv_ok):
        return Generator28(latent_dim, width, shape[0]), Critic28(width, shape[0])
    gen = MLPGenerator(shape, latent_dim, (4 * width,), "sigmoid" if bounded else "identity")
    return gen, MLPCritic(shape, (4 * width, 4 * width))


def build_autoencoder(
    input_shape,
    channels=(3, 6, 12),
    code_dim: int = 16,
    arch: str = "auto",
    bounded: bool = True,
) -> nn.Module:
    """An auto-encoder for ``input_shape``: :class:`ConvAutoencoder` (Table 4) for images of at
    least 16×16 pixels under ``arch="auto"``, else :class:`MLPAutoencoder` with ``code_dim``."""
    shape = tuple(int(s) for s in input_shape)
    if arch not in AE_ARCHS:
        raise AlkitError(f"arch must be one of {AE_ARCHS}, got {arch!r}")
    if len(channels) < 1 or any(int(c) < 1 for c in channels):
        raise AlkitError(f"channels must be positive integers, got {channels!r}")
    conv_ok = _is_image(shape) and min(shape[1:]) >= 8
    if arch == "conv" and not conv_ok:
        raise AlkitError(f"arch='conv' needs C × H × W images of at least 8×8, got {shape}")
    if arch == "conv" or (arch == "auto" and conv_ok and min(shape[1:]) >= 16):
        return ConvAutoencoder(shape, channels)
    code_dim = check_positive_int("code_dim", code_dim)
    return MLPAutoencoder(shape, code_dim=code_dim, output="sigmoid" if bounded else "identity")
