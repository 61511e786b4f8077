"""Issue 29 probe: where the video DSAE's CMI-VAE training step spends its CPU time.

``python -m benchmarks.video_profile [--preset dsae-sprites-cpu] [--batch-size 32]``: one CMI-VAE step (two
critic updates, then the VAE's) of a video DSAE preset on random uint8 frames, bf16 autocast and the layout
``train.channels_last: auto`` picks, profiled by ``torch.profiler`` on the calling threads after two warm-up
steps. Prints the self CPU time of each operator group as a share of the step (the optimizer's operators
counted as the optimizer, whatever they are), then the forward's time per module (frame encoder, the
three LSTM modules, frame decoder, critic; ``record_function`` around each ``forward``), then the
convolutions one by one (forward, backward: every call of at least 0.3 % with its input shapes). The shares, not the
absolute times, are what it is for: the profiler adds overhead to every operator. BENCHMARKS.md, "Video
DSAE training step", reads it.

``--layers``: instead, every convolution and conv-transpose of the frame encoder and decoder alone, on
random bf16 maps of the step's shape (N = B T frames, channels_last as the step), forward plus the
backward the step computes (input gradient except for the frames, weight gradient), timed interleaved
with a 2048^2 bf16 matmul: each layer's useful GFLOP per CPU-second and its share of the matmul's, the
stack's total, and the step's time that is not these convolutions. What bounds the step's share.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

GROUPS = {  # operator name -> group; anything else is "element-wise, other"
    "aten::mkldnn_convolution": "convolutions, forward",
    "aten::_convolution": "convolutions, forward",  # its self time: oneDNN's conv-transpose (not a separate op)
    "aten::convolution_backward": "convolutions, backward",
    "aten::native_batch_norm": "batch norm", "aten::native_batch_norm_backward": "batch norm",
    "aten::leaky_relu_": "LeakyReLU", "aten::leaky_relu": "LeakyReLU", "aten::leaky_relu_backward": "LeakyReLU",
    "aten::mm": "matrix products (fully connected, heads, critic)",
    "aten::addmm": "matrix products (fully connected, heads, critic)",
    "aten::bmm": "matrix products (fully connected, heads, critic)",
    "aten::mkldnn_rnn_layer": "LSTM (oneDNN)", "aten::mkldnn_rnn_layer_backward": "LSTM (oneDNN)",
    "aten::copy_": "dtype casts and copies (autocast's bf16 weights, their fp32 gradients)",
}
OPTIMIZER = "optimizer (Adam step, zero_grad)"
OTHER = "element-wise, other"
REGIONS = ("frame_encoder", "static_encoder", "dynamic_encoder", "transition_prior", "decoder")


@contextmanager
def forward_regions(modules: dict[str, nn.Module]) -> Iterator[None]:
    """A ``record_function`` named after each module around its ``forward`` (pre and post hooks)."""
    handles = []
    for name, module in modules.items():
        def enter(_module: nn.Module, _inputs: object, name: str = name) -> None:
            _module._probe_region = torch.autograd.profiler.record_function(f"forward: {name}")
            _module._probe_region.__enter__()

        def leave(_module: nn.Module, _inputs: object, _output: object) -> None:
            _module._probe_region.__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def profile_step(preset: str, batch_size: int) -> tuple[dict[str, float], dict[str, float], list[str], float]:
    """Shares of the profiled self CPU time per operator group, per forward module (CPU time including
    children), the convolution calls (one line each) and the profiled total in seconds."""
    from torch.profiler import ProfilerActivity, profile

    from cmivae.config import load_config
    from cmivae.training.loop import build_trainer, train_step

    torch.manual_seed(0)
    trainer = build_trainer(load_config(preset, [f"train.batch_size={batch_size}", "train.precision=bf16"]))
    model = trainer.model
    x = trainer.to_device(torch.randint(0, 256, (batch_size, *model.input_shape), dtype=torch.uint8,
                                        generator=torch.Generator().manual_seed(0)))  # (B, T, C, H, W)
    modules = {name: getattr(model, name) for name in REGIONS}
    if trainer.objective.critic is not None:
        modules["critic"] = trainer.objective.critic
    for _ in range(2):  # warm-up: oneDNN primitives, autocast caches, Adam state
        train_step(trainer, x, 0)
    with forward_regions(modules), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        train_step(trainer, x, 0)
    groups: dict[str, float] = {}
    regions: dict[str, float] = {}
    convs: list[tuple[float, str]] = []
    for event in prof.events():
        if event.name.startswith("forward: "):
            regions[event.name[9:]] = regions.get(event.name[9:], 0.0) + event.cpu_time_total
            continue
        parent, in_optimizer = event.cpu_parent, event.name.startswith("Optimizer.")
        while parent is not None and not in_optimizer:
            in_optimizer, parent = parent.name.startswith("Optimizer."), parent.cpu_parent
        group = OPTIMIZER if in_optimizer else GROUPS.get(event.name, OTHER)
        groups[group] = groups.get(group, 0.0) + event.self_cpu_time_total
        if event.name in ("aten::mkldnn_convolution", "aten::_convolution", "aten::convolution_backward") \
                and event.self_cpu_time_total > 0:
            shapes = ", ".join(str(tuple(s)) for s in event.input_shapes[:3] if s)
            convs.append((event.self_cpu_time_total, f"{event.name[6:]} {shapes}"))
    whole = sum(groups.values())
    lines = [f"{100 * t / whole:5.1f} %  {label}" for t, label in sorted(convs, reverse=True) if t >= 0.003 * whole]
    return ({g: t / whole for g, t in sorted(groups.items(), key=lambda kv: -kv[1])},
            {r: t / whole for r, t in regions.items()}, lines, whole / 1e6)


def conv_layers(preset: str, batch_size: int, rounds: int = 2) -> tuple[list[str], float, float]:
    """Every frame convolution alone against the bf16 matmul (module docstring, ``--layers``): one line per
    layer, the stack's median CPU seconds (summed over the layers) and its useful GFLOP."""
    from benchmarks.suites import matmul_call
    from benchmarks.timing import interleaved
    from cmivae.config import load_config
    from cmivae.models.video_dsae import OutputConv
    from cmivae.registry import build_model

    section = load_config(preset).model
    model = build_model(section.name, section.params)
    config = model.config
    frames, size = batch_size * config.num_steps, config.frame_size
    convs = [m for m in (*model.frame_encoder.convs, *model.decoder.convs)
             if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    generator = torch.Generator().manual_seed(0)
    calls: dict[str, object] = {}
    flops: dict[str, float] = {}
    for index, conv in enumerate(convs):
        transposed = isinstance(conv, nn.ConvTranspose2d)
        weight = conv.weight.detach().to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        as_transpose = isinstance(conv, OutputConv)  # computed as a conv-transpose on the CPU, as the model does
        if as_transpose:
            weight = weight.flip(-1, -2).transpose(0, 1)  # (C, K, k, k) -> (K, C, k, k), taps reversed
        maps = torch.randn(frames, conv.in_channels, size, size, generator=generator).to(torch.bfloat16)
        maps = maps.contiguous(memory_format=torch.channels_last)  # (N, K, H, W)
        args = (list(conv.stride), list(conv.padding), list(conv.dilation), transposed or as_transpose,
                list(conv.output_padding), 1)
        out = torch.ops.aten.convolution(maps, weight, None, *args)
        grad = torch.randn(out.shape, generator=generator).to(torch.bfloat16)
        grad = grad.contiguous(memory_format=torch.channels_last)  # (N, K', H', W'), as the step's
        input_grad = index > 0  # the frames need no gradient
        kind = "conv-transpose" if transposed else "conv (as conv-transpose)" if as_transpose else "conv"
        name = f"{kind} {conv.in_channels}->{conv.out_channels} {size}->{out.shape[-1]}"
        pixels = size * size if transposed else out.shape[-1] * out.shape[-2]  # taps over the input for a transpose
        flops[name] = 2.0 * frames * pixels * conv.in_channels * conv.out_channels * conv.kernel_size[0] ** 2 \
            * (2 + input_grad)

        def call(maps: torch.Tensor = maps, weight: torch.Tensor = weight, grad: torch.Tensor = grad,
                 args: tuple = args, input_grad: bool = input_grad) -> None:
            torch.ops.aten.convolution(maps, weight, None, *args)
            torch.ops.aten.convolution_backward(grad, maps, weight, None, *args, [input_grad, True, False])

        calls[name] = call
        size = out.shape[-1]
    ceiling, ceiling_flops = matmul_call(2048, torch.bfloat16, repeats=4)
    timings = interleaved({"ceiling": ceiling, **calls}, rounds=rounds)
    ceiling_rate = ceiling_flops / timings["ceiling"].median_cpu / 1e9
    lines, stack_cpu = [], 0.0
    for name in calls:
        cpu = timings[name].median_cpu
        stack_cpu += cpu
        rate = flops[name] / cpu / 1e9
        lines.append(f"{name:34s} {flops[name] / 1e9:8.1f} GFLOP {cpu:7.3f} CPU-s {rate:6.1f} GFLOP/s "
                     f"{100 * rate / ceiling_rate:4.0f} % of the bf16 matmul's {ceiling_rate:.0f}")
    return lines, stack_cpu, sum(flops.values()) / 1e9


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="dsae-sprites-cpu", help="dsae-sprites-cpu or dsae-sprites-paper")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="sequences (32 at 32x32; the benchmark's 8 at 64x64)")
    parser.add_argument("--layers", action="store_true", help="each frame convolution alone against the matmul")
    args = parser.parse_args(argv)
    if args.layers:
        lines, stack_cpu, stack_flops = conv_layers(args.preset, args.batch_size)
        print(f"frame convolutions of {args.preset} alone (N = {args.batch_size} x T frames, bf16, channels_last; "
              "forward + the step's backward), 1 thread, median CPU time of 2 interleaved rounds:")
        for line in lines:
            print(f"  {line}")
        print(f"  stack: {stack_flops:.1f} GFLOP in {stack_cpu:.2f} CPU-s = {stack_flops / stack_cpu:.1f} GFLOP/s")
        return
    groups, regions, convs, whole = profile_step(args.preset, args.batch_size)
    print(f"video DSAE CMI-VAE step ({args.preset}, B={args.batch_size}, bf16), {torch.get_num_threads()} "
          f"thread(s): {whole:.2f} profiled CPU-s; share of self CPU time")
    for group, share in groups.items():
        print(f"  {100 * share:5.1f} %  {group}")
    print("forward per module (CPU time with its operators):")
    for region, share in regions.items():
        print(f"  {100 * share:5.1f} %  {region}")
    print("convolution calls >= 0.3 % (self CPU time; input shapes: forward (x, weight), backward (grad, x, weight)):")
    for line in convs:
        print(f"  {line}")


if __name__ == "__main__":
    main()
