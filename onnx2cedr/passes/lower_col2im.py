"""Lower each Col2Im (ops/rearrange.py) to a grouped ConvTranspose.

Col2Im adds every column's block back into the image: input row c * P + p (P block positions, p in
row-major order over block_shape) of column l lands at image position l's block origin + p's offset
(times the dilations, minus the begin pads). That is a ConvTranspose with group = C over the columns
viewed as a [N, C * P, blocks...] image, whose weights W[c * P + p, 0, ...] are 1 at p's position and 0
elsewhere, with the same strides, dilations and pads. A lowering: with this pass disabled, Col2Im
cannot be placed."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops.rearrange import col2im_spec
from .common import Pass


class LowerCol2Im(Pass):
    NAME = "lower_col2im"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for n in [n for n in graph.nodes if n.op == "Col2Im" and not n.domain]:
            sp = col2im_spec(graph, n)
            P = int(np.prod(sp.block))
            w = np.zeros((sp.channels * P, 1) + sp.block, dtype=graph.value(n.inputs[0]).dtype)
            for c in range(sp.channels):
                for p in range(P):
                    w[(c * P + p, 0) + np.unravel_index(p, sp.block)] = 1
            taken = set(graph.values) | {o for m in graph.nodes for o in m.outputs}

            def fresh(base: str) -> str:
                name = f"{n.name}/{base}"
                while name in taken:
                    name += "_"
                taken.add(name)
                return name

            wname, shape, cols = fresh("onehot"), fresh("shape"), fresh("columns")
            graph.add_const(wname, w)
            graph.add_const(shape, np.array((sp.batch, sp.channels * P) + sp.blocks, dtype=np.int64))
            # the last blocks may stop short of the image's end (the block count rounds down): the rest
            # of the image gets nothing, which output_padding (below the stride) adds
            d = len(sp.image)
            made = [(sp.blocks[i] - 1) * sp.strides[i] - sp.pads[i] - sp.pads[d + i] +
                    sp.dilations[i] * (sp.block[i] - 1) + 1 for i in range(d)]
            attrs = {"group": sp.channels, "strides": list(sp.strides), "dilations": list(sp.dilations),
                     "pads": list(sp.pads), "kernel_shape": list(sp.block)}
            if made != list(sp.image):
                attrs["output_padding"] = [sp.image[i] - made[i] for i in range(d)]
            new = [Node("Reshape", fresh("Reshape"), [n.inputs[0], shape], [cols]),
                   Node("ConvTranspose", n.name, [cols, wname], list(n.outputs), attrs=attrs)]
            i = graph.nodes.index(n)
            graph.nodes[i:i + 1] = new
            changed = True
        return changed


PASS = LowerCol2Im()
