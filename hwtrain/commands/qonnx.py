"""``hwtrain import qonnx MODEL.onnx``: a binarized MLP exported by Brevitas (QONNX) as an hwtrain model.

    hwtrain import qonnx mlp.onnx -o mlp.npz                  fold, check with the qonnx executor, write
    hwtrain import qonnx mlp.onnx -o mlp.npz --check-samples 500 --dataset digits
    hwtrain verify inference --model mlp.npz --dataset digits   then prove the Verilog as for any model

The check runs the ONNX graph itself (``qonnx.core.onnx_exec.execute_onnx``) on
binarized samples and requires the same classes and the same integer
pre-activations of every layer as hwtrain's golden model (docs/qonnx.md).
"""

from __future__ import annotations

import json
import time

import numpy as np

from .. import args as checked
from ..errors import require


def add_parser(subparsers):
    p = subparsers.add_parser("import", help="import a network trained elsewhere as an hwtrain model file")
    sub = p.add_subparsers(dest="import_cmd", required=True)
    q = sub.add_parser("qonnx", help="a binarized MLP exported by Brevitas as QONNX (docs/qonnx.md)")
    q.add_argument("model", type=checked.input_file, metavar="MODEL.onnx")
    q.add_argument("-o", "--output", type=checked.output_file, required=True, metavar="MODEL.npz",
                   help="hwtrain model file to write")
    q.add_argument("--check-samples", type=checked.positive, default=200, metavar="N",
                   help="samples the QONNX graph and the golden model must agree on (default 200)")
    q.add_argument("--dataset", default=None, metavar="NAME",
                   help="binarized test samples of this dataset for the check (default: digits for "
                        "64 inputs, otherwise random bits)")
    q.add_argument("--seed", type=checked.natural, default=1, help="seed of the random check samples")
    q.add_argument("--json", type=checked.output_file, default=None, help="write the result here as JSON")
    return p


def _samples(args, k0: int) -> tuple[np.ndarray, str]:
    name = args.dataset or ("digits" if k0 == 64 else None)
    if name is None:
        from ..core.prng import Xorshift32
        return Xorshift32(args.seed, k0).bits(args.check_samples).astype(np.uint8), "random bits"
    from ..data.presets import binarized
    data = binarized(name)
    x = data.x_test.reshape(len(data.x_test), -1)
    require(x.shape[1] == k0, f"{name} samples have {x.shape[1]} input bits, the network takes {k0}")
    return (x[:args.check_samples] > 0).astype(np.uint8), f"{name} test split"


def run(args) -> int:
    from ..inference.qonnx_import import check, import_qonnx, save_imported
    t0 = time.perf_counter()
    imp = import_qonnx(args.model)
    x, source = _samples(args, imp.model.sizes[0])
    result = check(imp, x)
    info = {"model": str(args.model), "output": str(args.output), "sizes": list(imp.model.sizes),
            "classes": imp.model.classes, "check": {**result, "source": source},
            "layers": imp.summary, "seconds": round(time.perf_counter() - t0, 3)}
    save_imported(checked.prepare_output(args.output), imp,
                  {"source": {"qonnx": str(args.model)}, "check": info["check"]})
    if args.json:
        checked.prepare_output(args.json).write_text(json.dumps(info, indent=1))
    for line in imp.summary:
        print(f"  {line}")
    ties = result["class_ties_rounded"]
    print(f"{args.model} -> {args.output}: sizes {list(imp.model.sizes)}, {imp.model.classes} classes; "
          f"the QONNX graph (qonnx executor) and the golden model agree on {result['samples']} "
          f"samples ({source}): every class"
          + (f" ({ties} exact ties of two classes' integer logits, which the graph's float32 sums broke "
             f"away from hwtrain's lowest index)" if ties else "")
          + f" and all {result['preactivations_equal']} integer "
          f"pre-activations; the folded thresholds decide all {result['fold_pairs_equal']} "
          f"(neuron, dot product) pairs as the graph does")
    if args.json:
        print(f"wrote {args.json}")
    return 0
