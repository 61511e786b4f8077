"""Useful floating-point operations of one CMI-VAE training step of the PixelCNN-VAE.

"Useful" means the multiply-adds a step cannot avoid, counted as 2 FLOPs each:

- masked convolutions of the decoder (paper appendix B): only the *unmasked* kernel taps,
  ``k // 2 * k + k // 2`` (mask A) or ``+ 1`` (mask B), i.e. 24 of 49 taps for the first 7x7
  layer and 25, 13, 5 of 49, 25, 9 for the mask-B 7x7, 5x5 and 3x3 layers. The zeros a
  full (or cropped) kernel multiplies are *executed* work, reported separately;
- every dense layer (encoder convolutions and linear layers, z -> feature maps, the 1x1
  output convolution, the critic's convolutions): all taps, zero padding included, as
  FLOP counters conventionally do;
- backward passes: a gradient with respect to the input (when the input needs one) and
  one with respect to the weights (when they are trained in that pass), each as many
  FLOPs as the forward pass.

Not counted: element-wise work (bias, ReLU, batch norm, the Bernoulli log-likelihood, the
KL, the critic's inner product, Adam), which is O(activations), not O(activations x fan-in).

One CMI-VAE step (``cmivae.training.loop.train_step``) is: the model's forward pass; then
``critic_steps`` critic updates on the *detached* s (critic forward, critic backward for
the weights, and for the inputs of every critic layer but the first); then the VAE loss
with the critic frozen: one more critic forward, its backward for the inputs only, and
the backward of the decoder and encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cmivae.models.dsae import DSAEConfig
from cmivae.models.pixelcnn_vae import PixelCNNVAEConfig
from cmivae.models.video_dsae import VideoDSAEConfig


def unmasked_taps(kernel_size: int, mask_type: str) -> int:
    """Taps of a causal ``k x k`` kernel that may be non-zero: the ``k // 2`` rows above and
    the pixels left of the centre (mask A) or up to and including it (mask B)."""
    half = kernel_size // 2
    return half * kernel_size + half + (1 if mask_type == "B" else 0)


def conv_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """Spatial output size of a convolution (floor mode)."""
    return (size + 2 * padding - kernel_size) // stride + 1


@dataclass
class StepFlops:
    """FLOPs of one training step, split by component (forward + backward, whole batch)."""

    useful: dict[str, float] = field(default_factory=dict)  # component -> useful FLOPs
    decoder_executed_cropped: float = 0.0  # decoder FLOPs with the cropped (k//2+1) x k kernels
    decoder_executed_full: float = 0.0  # decoder FLOPs with full k x k kernels (the fp32 reference)

    @property
    def total_useful(self) -> float:
        return sum(self.useful.values())

    def add(self, component: str, flops: float) -> None:
        self.useful[component] = self.useful.get(component, 0.0) + flops


def _backward_factor(input_grad: bool, weight_grad: bool) -> int:
    """A backward pass costs one forward per gradient it computes."""
    return int(input_grad) + int(weight_grad)


def pixelcnn_vae_step_flops(config: PixelCNNVAEConfig, batch_size: int, *, critic_steps: int = 2,
                            critic_hidden_dim: int = 256, with_critic: bool = True) -> StepFlops:
    """Useful FLOPs of one training step of the PixelCNN-VAE (see the module docstring).

    Args:
        config: the model architecture.
        batch_size: images per step, B.
        critic_steps: critic updates per VAE update (2 in the paper).
        critic_hidden_dim: channels of the critic's two hidden convolutions (256, appendix I).
        with_critic: count the CMI critic D(z, s) (False: a beta-VAE step).
    """
    flops = StepFlops()
    channels, height, width = config.image_shape
    pixels = height * width
    b = batch_size

    # Encoder q(z|x): stride-2 3x3 convolutions, then Linear -> ReLU -> Linear(2D).
    c_in, h, w = channels, height, width
    for i, c_out in enumerate(config.encoder_channels):
        h, w = conv_output_size(h, 3, 2, 1), conv_output_size(w, 3, 2, 1)
        fwd = 2.0 * b * h * w * c_out * c_in * 9
        flops.add("encoder", fwd * (1 + _backward_factor(input_grad=i > 0, weight_grad=True)))
        c_in = c_out
    for fan_in, fan_out in ((c_in * h * w, config.encoder_hidden), (config.encoder_hidden, 2 * config.z_dim)):
        flops.add("encoder", 2.0 * b * fan_in * fan_out * 3)  # forward, input grad, weight grad

    # z -> (z_channels, H, W) feature maps: a linear layer (input grad flows to the encoder).
    flops.add("decoder", 2.0 * b * config.z_dim * config.z_channels * pixels * 3)

    # Masked convolutions (forward, input grad except for the data, weight grad).
    for i, k in enumerate(config.kernel_sizes):
        c_in = channels if i == 0 else config.channels
        if i >= config.inject_after:
            c_in += config.z_channels
        mask = "A" if i == 0 else "B"
        per_tap = 2.0 * b * pixels * config.channels * c_in
        passes = 1 + _backward_factor(input_grad=i > 0, weight_grad=True)
        flops.add("decoder", per_tap * unmasked_taps(k, mask) * passes)
        flops.decoder_executed_cropped += per_tap * (k // 2 + 1) * k * passes
        flops.decoder_executed_full += per_tap * k * k * passes
    out = 2.0 * b * pixels * config.channels * channels * 3  # the 1x1 output convolution
    flops.add("decoder", out)
    z_maps = 2.0 * b * config.z_dim * config.z_channels * pixels * 3
    flops.decoder_executed_cropped += out + z_maps
    flops.decoder_executed_full += out + z_maps

    if with_critic:
        # D(z, s): Conv(hidden,4,2,1)-BN-ReLU-Conv(hidden,4,2,1)-BN-ReLU-Conv(D,4,2,1) over s (appendix I).
        layers = []
        c_in, h, w = config.channels, height, width
        for c_out in (critic_hidden_dim, critic_hidden_dim, config.z_dim):
            h, w = conv_output_size(h, 4, 2, 1), conv_output_size(w, 4, 2, 1)
            layers.append(2.0 * b * h * w * c_out * c_in * 16)
            c_in = c_out
        flops.add("critic", _critic_flops(layers, critic_steps))
    return flops


def _critic_flops(layers: list[float], critic_steps: int) -> float:
    """FLOPs of the critic D(z, s) in one step, from its convolutions' forward FLOPs: ``critic_steps``
    critic updates (s detached: no input gradient for the first layer) plus the VAE step's pass
    through the frozen critic (input gradients only)."""
    critic_update = sum(fwd * (1 + _backward_factor(input_grad=i > 0, weight_grad=True))
                        for i, fwd in enumerate(layers))
    vae_step = sum(fwd * (1 + _backward_factor(input_grad=True, weight_grad=False)) for fwd in layers)
    return critic_steps * critic_update + vae_step


def dsae_step_flops(config: DSAEConfig, batch_size: int, *, critic_hidden_dim: int = 256,
                    critic_steps: int = 2) -> StepFlops:
    """Useful FLOPs of one CMI-VAE training step of the DSAE (paper Sec. 2.1, appendices G.1, I).

    Counted (2 FLOPs per multiply-add): the three LSTMs' input and recurrent products at every
    step (4 gates each), the dynamic encoder's input-gate and recurrent products and its head,
    the prior's head, the decoder MLP, the static head; backward = 2 x forward for the VAE
    (input and weight gradients; the input x needs none, not subtracted). The critic D(z, s)
    (three 1-D convolutions, kernel 4, stride 2 over the T axis): as for the PixelCNN critic.
    Element-wise gate arithmetic, the Gaussian terms and Adam are not counted.
    """
    b, t = batch_size, config.num_steps
    f, z, s, h, r, p, d = (config.x_dim, config.z_dim, config.s_dim, config.hidden_dim, config.rnn_dim,
                           config.prior_dim, config.decoder_hidden_dim)
    flops = StepFlops()

    def mm(rows: int, n_in: int, n_out: int) -> float:
        return 2.0 * rows * n_in * n_out * 3  # forward + input grad + weight grad

    flops.add("encoder", 2 * mm(b * t, f + h, 4 * h) + mm(b, 2 * h, 2 * z))  # static BiLSTM + head
    flops.add("encoder", 2 * mm(b * t, f + z + h, 4 * h))  # dynamic BiLSTM over [x, z]
    flops.add("encoder", mm(b * t, 2 * h, 4 * r) + mm(b * t, s + r, 4 * r) + mm(b * t, r, 2 * s))  # the s_t cell
    flops.add("prior", mm(b * t, s + p, 4 * p) + mm(b * t, p, 2 * s))
    widths = [z + s] + [d] * config.num_decoder_layers + [f]
    flops.add("decoder", sum(mm(b * t, a, c) for a, c in zip(widths[:-1], widths[1:], strict=True)))
    layers, c_in, steps = [], s, t
    for c_out in (critic_hidden_dim, critic_hidden_dim, z):
        steps = conv_output_size(steps, 4, 2, 1)
        layers.append(2.0 * b * steps * c_out * c_in * 4)
        c_in = c_out
    flops.add("critic", _critic_flops(layers, critic_steps))
    return flops


def video_dsae_step_flops(config: VideoDSAEConfig, batch_size: int, *, critic_hidden_dim: int = 256,
                          critic_steps: int = 2, with_critic: bool = True) -> StepFlops:
    """Useful FLOPs of one training step of the video DSAE (:mod:`cmivae.models.video_dsae`).

    The recurrent part (LSTMs, heads, prior, and the critic over s when ``with_critic``) is
    :func:`dsae_step_flops` over the frame features; its spectral decoder MLP is replaced by the frame
    encoder and decoder, counted over the ``B T`` frames: every convolution's taps (padding included),
    a conv-transpose's as the input pixels times ``k^2`` taps (the inserted zeros are not work), the
    fully connected layers; forward, input gradient (not for the frames themselves) and weight gradient.
    """
    recurrent = dsae_step_flops(config.recurrent(), batch_size, critic_hidden_dim=critic_hidden_dim,
                                critic_steps=critic_steps)
    flops = StepFlops({k: v for k, v in recurrent.useful.items() if k != "decoder" and (with_critic or k != "critic")})
    n, k2, size = batch_size * config.num_steps, config.kernel_size ** 2, config.frame_size
    channels = config.conv_channels

    def mm(n_in: int, n_out: int) -> float:
        return 2.0 * n * n_in * n_out * 3  # forward + input grad + weight grad

    c_in = config.channels
    for i, c_out in enumerate(channels):  # encoder convolutions, the first of stride 1
        size = size if i == 0 else size // 2
        fwd = 2.0 * n * size * size * c_out * c_in * k2
        flops.add("frame encoder", fwd * (1 + _backward_factor(input_grad=i > 0, weight_grad=True)))
        c_in = c_out
    widths = [channels[-1] * size * size, *config.frame_features]
    flops.add("frame encoder", sum(mm(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)))
    widths = [config.z_dim + config.s_dim, *reversed(config.frame_features), channels[-1] * size * size]
    flops.add("frame decoder", sum(mm(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)))
    for c_in, c_out in zip(channels[:0:-1], channels[-2::-1], strict=True):  # stride-2 conv-transposes
        flops.add("frame decoder", 2.0 * n * size * size * c_in * c_out * k2 * 3)
        size *= 2
    flops.add("frame decoder", 2.0 * n * size * size * channels[0] * config.channels * k2 * 3)  # to C channels
    return flops
