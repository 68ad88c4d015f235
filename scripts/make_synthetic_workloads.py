"""Build the two synthetic workloads, elsa_tlm/models/resnet101.json and elsa_tlm/models/yolov2.json.

Neither network was recorded. Each file is a layer graph defined here (no torch) plus input spikes per step
derived from a recorded network by the *stage-role density model* (docs/model/workloads.md):

* **Architecture.** ResNet-101 is torchvision's (bottleneck blocks [3, 4, 23, 3], 224 × 224 input; the loader
  appends the 1000-way classifier as for every ResNet). YOLOv2 is a torchvision ResNet-34 backbone (basic
  blocks [3, 4, 6, 3]) with the YOLOv2 detection head of the quantized-ANN → SNN conversion code that runs
  YOLOv2 on a ResNet-34 (Fast-SNN, yangfan-hu/Fast-SNN, ``models/yolov2_r34.py``, after yjh0410's PyTorch
  YOLOv2): 1×1 512→1024, 3×3 1024→1024 twice, a passthrough (1×1 256→128 on the stride-16 map, reorganised
  2×2 into 512 channels), 3×3 (1024 + 512)→1024 on the concatenation, 1×1 1024→5·(5 + 80) predictions;
  288 × 288 input (the smallest resolution of the YOLOv2 paper's table), COCO (80 classes, 5 anchors).
* **Two rewrites**, so that the loader's layer types suffice, with the same weights, inputs and MACs: the
  reorganisation followed by the 3×3 convolution is one 6×6 / 2 convolution (padding 2) over the 18 × 18
  passthrough map (exact); the convolution over the concatenation is the sum of its two halves:
  ``head4.reorg`` (the passthrough's 512 channels) joined into ``head4`` (head3's 1024 channels) as a residual
  skip. The one approximation: ``head4.reorg`` has neurons of its own, whose spikes the router's residual unit
  adds into ``head4`` (the network sums the two halves before one activation).
* **Activity.** Layers are sorted into (stage, role) classes: the stem ``conv1``; per stage the first block's
  layers one by one (``b0.conv1``, ``b0.conv2`` [, ``b0.conv3``], ``b0.downsample``: each is a single
  recorded layer) and the repeated blocks' layers by position (``conv1`` reads a block's output, ``conv2``
  [and ``conv3``] a plain convolution's output). A class's density in step t is the recorded input spikes of
  its layers in that step over their input neurons (Cin·IH·IW); a synthetic layer receives
  round(density_t × its input neurons). Sources: ResNet-50 (T = 16) for ResNet-101, whose 17 extra layer3
  blocks are repeated blocks of layer3; ResNet-34 (T = 24) for YOLOv2's backbone. YOLOv2's head takes
  layer4's densities by what its layers read: a residual block's output (``head1``) → layer4 ``conv1``; a
  plain convolution's output (head2, head3, head4.reorg, head4, pred) → layer4 ``conv2``; the layer3 output
  (``route``) → layer4 ``b0.downsample``, which reads that very tensor in the recording.

Rounding is integer arithmetic (half up), so the files are reproducible byte for byte
(tests/test_synthetic_workloads.py regenerates them and compares).

    python scripts/make_synthetic_workloads.py             # writes elsa_tlm/models/{resnet101,yolov2}.json
    python scripts/make_synthetic_workloads.py --out DIR   # writes them into DIR
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "elsa_tlm" / "models"
# YOLOv2's input: the smallest resolution of the YOLOv2 paper's table (288, 352, 416, 480, 544) and the one whose
# #Ops (2 x MACs) come within 5 % of the brief's 18.44 G (17.64 G; 320 gives 21.78 G, 416 gives 36.80 G)
YOLO_INPUT = 288
YOLO_CLASSES, YOLO_ANCHORS = 80, 5  # COCO, YOLOv2's five anchor boxes

ARTIFACT = "the ELSA paper's artifact (arXiv 2605.20802)"
FIELD_NOTES = {
    "input_spikes_per_step": (
        "SYNTHETIC, not recorded: number of non-zero input entries (spikes, either sign) arriving at the layer "
        "in each time step, before image-to-column expansion, derived by the stage-role density model from a "
        "recorded network (see 'activity'); for the first layer these are the non-zero pixels of the directly "
        "coded input, injected at step 0 only"
    ),
    "inputs": (
        "producer layers; a layer with two producers is a residual join (the skip path is added into it); "
        "pooling layers are listed under 'pools' and sit between producer and consumer"
    ),
    "shape": (
        "Cin/Cout/kernel/stride/padding/IH/IW/OH/OW for conv; K_im2col = Cin*kernel*kernel, "
        "M_out_pixels = OH*OW"
    ),
    "density_from": (
        "the (network, stage, role) class of the recording whose per-step input density this layer takes"
    ),
}


def conv(
    name: str, inputs: list[str], cin: int, cout: int, k: int, s: int, p: int, ih: int, cls: str
) -> dict[str, Any]:
    oh = (ih + 2 * p - k) // s + 1
    shape = {"Cin": cin, "Cout": cout, "kernel": k, "stride": s, "padding": p}
    shape |= {"IH": ih, "IW": ih, "OH": oh, "OW": oh, "K_im2col": cin * k * k, "M_out_pixels": oh * oh}
    return {"name": name, "type": "conv", "inputs": inputs, "shape": shape, "cls": cls}


def resnet(blocks: list[int], bottleneck: bool, hw: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A torchvision ResNet up to its last convolution: layers (execution order, each with its class) and the
    name of each stage's output layer. A block's join is its last convolution: the skip (the block's input, or
    its downsample) is added into it, as in the recorded ResNet-18 and ResNet-50."""
    layers = [conv("conv1", ["input"], 3, 64, 7, 2, 3, hw, "conv1")]
    hw = (hw + 2 * 3 - 7) // 2 + 1
    hw = (hw + 2 - 3) // 2 + 1  # maxpool 3x3 / 2, pad 1 (fused into conv1)
    x, cin, outputs = "maxpool", 64, {}
    for si, n in enumerate(blocks):
        stage, width = f"layer{si + 1}", 64 * 2**si
        cout = width * 4 if bottleneck else width
        for b in range(n):
            pre = f"{stage}.{b}"
            s = 2 if b == 0 and si > 0 else 1

            def role(r: str, b: int = b, stage: str = stage) -> str:
                return f"{stage}.b0.{r}" if b == 0 else f"{stage}.{r}"

            skip = x
            if b == 0 and (s != 1 or cin != cout):
                skip = f"{pre}.downsample.0"
            if bottleneck:
                layers.append(conv(f"{pre}.conv1", [x], cin, width, 1, 1, 0, hw, role("conv1")))
                layers.append(
                    conv(f"{pre}.conv2", [f"{pre}.conv1"], width, width, 3, s, 1, hw, role("conv2"))
                )
                ohw = (hw + 2 - 3) // s + 1
                if skip != x:
                    layers.append(conv(skip, [x], cin, cout, 1, s, 0, hw, f"{stage}.b0.downsample"))
                last = f"{pre}.conv3"
                layers.append(conv(last, [skip, f"{pre}.conv2"], width, cout, 1, 1, 0, ohw, role("conv3")))
            else:
                layers.append(conv(f"{pre}.conv1", [x], cin, width, 3, s, 1, hw, role("conv1")))
                ohw = (hw + 2 - 3) // s + 1
                if skip != x:
                    layers.append(conv(skip, [x], cin, cout, 1, s, 0, hw, f"{stage}.b0.downsample"))
                last = f"{pre}.conv2"
                layers.append(conv(last, [skip, f"{pre}.conv1"], width, cout, 3, 1, 1, ohw, role("conv2")))
            x, cin, hw = last, cout, ohw
        outputs[stage] = x
    return layers, outputs


def yolov2_head(outputs: dict[str, str], hw: int, classes: int, anchors: int) -> list[dict[str, Any]]:
    """The YOLOv2 head of Fast-SNN's ``yolov2_r34`` on a ResNet-34 (stride-32 map hw × hw, stride-16 map
    2hw × 2hw), with the reorganisation and the concatenation rewritten (module docstring)."""
    c5, c4 = outputs["layer4"], outputs["layer3"]
    block_out, plain = "layer4.conv1", "layer4.conv2"  # what a head layer reads: a block's output, a conv's
    return [
        conv("head1", [c5], 512, 1024, 1, 1, 0, hw, block_out),
        conv("head2", ["head1"], 1024, 1024, 3, 1, 1, hw, plain),
        conv("head3", ["head2"], 1024, 1024, 3, 1, 1, hw, plain),
        conv("route", [c4], 256, 128, 1, 1, 0, 2 * hw, "layer4.b0.downsample"),  # reads the layer3 output
        # reorg (2x2 space-to-depth: 128 -> 512 channels) then 3x3 pad 1 on hw x hw == 6x6 / 2 pad 2 on 2hw x 2hw
        conv("head4.reorg", ["route"], 128, 1024, 6, 2, 2, 2 * hw, plain),
        # 3x3 over concat(reorg, head3) == 3x3 over head3 (here) + 3x3 over reorg (head4.reorg, added as a skip)
        conv("head4", ["head4.reorg", "head3"], 1024, 1024, 3, 1, 1, hw, plain),
        conv("pred", ["head4"], 1024, anchors * (5 + classes), 1, 1, 0, hw, plain),
    ]


def source_class(name: str) -> str:
    """The (stage, role) class of a recorded ResNet layer, named as :func:`resnet` names its layers'."""
    if name == "conv1":
        return "conv1"
    m = re.fullmatch(r"(layer\d)\.(\d+)\.(conv\d|downsample\.0)", name)
    if m is None:
        raise ValueError(f"unexpected layer name in a recorded ResNet: {name}")
    stage, block, role = m.group(1), int(m.group(2)), m.group(3).replace(".0", "")
    return f"{stage}.b0.{role}" if block == 0 else f"{stage}.{role}"


def class_totals(recording: dict[str, Any]) -> dict[str, tuple[list[int], int]]:
    """Per class: recorded input spikes per step summed over its layers, and their input neurons summed."""
    out: dict[str, tuple[list[int], int]] = {}
    for lr in recording["layers"]:
        sh = lr["shape"]
        spikes, neurons = out.get(source_class(lr["name"]), ([0] * recording["time_steps"], 0))
        spikes = [a + b for a, b in zip(spikes, lr["input_spikes_per_step"], strict=True)]
        out[source_class(lr["name"])] = (spikes, neurons + sh["Cin"] * sh["IH"] * sh["IW"])
    return out


def with_activity(layers: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """Each layer's input spikes per step: its class's recorded density (spikes / neurons) × its input
    neurons, rounded half up in integers."""
    rec = json.loads((MODELS / f"{source}.json").read_text(encoding="utf-8"))
    totals = class_totals(rec)
    out = []
    for lr in layers:
        spikes, neurons = totals[lr["cls"]]
        sh = lr["shape"]
        n = sh["Cin"] * sh["IH"] * sh["IW"]
        per_step = [(2 * s * n + neurons) // (2 * neurons) for s in spikes]
        layer = {k: v for k, v in lr.items() if k != "cls"}
        layer["density_from"] = f"{source}:{lr['cls']}"
        layer["input_spikes_per_step"] = per_step
        out.append(layer)
    return out


def resnet101() -> dict[str, Any]:
    layers, outputs = resnet([3, 4, 23, 3], bottleneck=True, hw=224)
    notes = dict(FIELD_NOTES)
    notes["activity"] = (
        "stage-role density model (scripts/make_synthetic_workloads.py, docs/model/workloads.md): every layer "
        "takes the per-step input density (spikes per input neuron) of its (stage, role) class in the recorded "
        "ResNet-50 (resnet50.json, T = 16): the first block of each stage layer by layer, the repeated blocks "
        "as the mean of that stage's repeated blocks by position (conv1, conv2, conv3); the 17 blocks "
        "ResNet-50 lacks (layer3.6-22) are repeated layer3 blocks. Not a measurement"
    )
    notes["missing"] = (
        "ResNet workloads end at the last convolution: global average pooling and the 1000-way classifier "
        "are appended by the loader with an assumed activity"
    )
    return {
        "model": "resnet101",
        "dataset": "ImageNet",
        "time_steps": 16,
        "weight_bits": 4,
        "source": (
            "SYNTHETIC, not recorded: torchvision ResNet-101 architecture (bottleneck blocks [3, 4, 23, 3], "
            "224x224 input); input spikes per step derived from the ResNet-50 recording of "
            f"{ARTIFACT} by the stage-role density model, at its T = 16 "
            "(scripts/make_synthetic_workloads.py)."
        ),
        "field_notes": notes,
        "pools": [
            {"name": "maxpool", "inputs": ["conv1"]},
            {"name": "avgpool", "inputs": [outputs["layer4"]]},
        ],
        "layers": with_activity(layers, "resnet50"),
    }


def yolov2() -> dict[str, Any]:
    hw, c4 = YOLO_INPUT, YOLO_INPUT // 16
    layers, outputs = resnet([3, 4, 6, 3], bottleneck=False, hw=hw)
    layers += yolov2_head(outputs, hw // 32, classes=YOLO_CLASSES, anchors=YOLO_ANCHORS)
    n_pred = YOLO_ANCHORS * (5 + YOLO_CLASSES)
    notes = dict(FIELD_NOTES)
    notes["activity"] = (
        "stage-role density model (scripts/make_synthetic_workloads.py, docs/model/workloads.md): every "
        "backbone layer takes the per-step input density of its (stage, role) class in the recorded ResNet-34 "
        "(resnet34.json, T = 24): the first block of each stage layer by layer, the repeated blocks as the "
        "mean of that stage's repeated blocks by position; the head takes layer4's densities by what it "
        "reads: head1 (a residual block's output) layer4 conv1, route (the layer3 output) "
        "layer4.0.downsample.0, every other head layer (a plain convolution's output) layer4 conv2. "
        "Not a measurement"
    )
    notes["head"] = (
        "YOLOv2 head of Fast-SNN's yolov2_r34 (yangfan-hu/Fast-SNN): head1 1x1 512->1024, head2 and head3 "
        "3x3 1024->1024, route 1x1 256->128 on the stride-16 map, reorg 2x2 (512 channels), 3x3 1536->1024 on "
        f"concat(reorg, head3), pred 1x1 1024->{n_pred} ({YOLO_ANCHORS} anchors x (5 + {YOLO_CLASSES} COCO "
        "classes)); rewritten for the loader with the same weights, inputs and MACs: reorg + 3x3 = head4.reorg, a 6x6/2 pad 2 convolution of "
        f"route's {c4}x{c4} map; the 3x3 over the concatenation = head4 (over head3) plus head4.reorg added "
        "into it as a residual skip (head4.reorg's own neurons and their spikes are the rewrite's one "
        "approximation, docs/model/workloads.md)"
    )
    return {
        "model": "yolov2",
        "dataset": "COCO2017",
        "time_steps": 24,
        "weight_bits": 4,
        "source": (
            "SYNTHETIC, not recorded: YOLOv2 with a torchvision ResNet-34 backbone and the YOLOv2 head of "
            f"Fast-SNN's yolov2_r34, {hw}x{hw} input, COCO ({YOLO_CLASSES} classes, {YOLO_ANCHORS} anchors); "
            "input spikes per step derived "
            f"from the ResNet-34 recording of {ARTIFACT} by the stage-role density model, at its T = 24 "
            "(scripts/make_synthetic_workloads.py)."
        ),
        "field_notes": notes,
        "pools": [{"name": "maxpool", "inputs": ["conv1"]}],
        "layers": with_activity(layers, "resnet34"),
    }


BUILDERS = {"resnet101": resnet101, "yolov2": yolov2}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=MODELS, help="folder to write resnet101.json and yolov2.json")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in BUILDERS.items():
        path = args.out / f"{name}.json"
        path.write_text(render(build()), encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
