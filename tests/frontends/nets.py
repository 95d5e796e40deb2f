"""One VGG-style CNN written three times (PyTorch, Keras 3, JAX/Flax NNX) with the same weights,
and two more Keras models (a 1-D conv net with Flatten + Dense, an MLP). Each builder imports its
framework only when called. Weights are seeded numpy arrays in PyTorch's layouts; the Keras and
JAX builders convert them (HWIO kernels; the first Dense layer's rows in NHWC flattening order), so
the three compute the same function, channels-first for PyTorch and channels-last for the others."""
from __future__ import annotations

import numpy as np

CFG = (8, 8, "M", 16, "M")
IMAGE, CIN, HIDDEN, CLASSES = 16, 3, 32, 10
EPS = 1e-5


def vgg_weights(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    convs, c, s = [], CIN, IMAGE
    for v in CFG:
        if v == "M":
            s //= 2
            continue
        bound = (6.0 / (c * 9)) ** 0.5
        convs.append({"w": rng.uniform(-bound, bound, (v, c, 3, 3)).astype(np.float32),
                      "b": rng.uniform(-0.2, 0.2, v).astype(np.float32),
                      "gamma": rng.uniform(0.5, 1.5, v).astype(np.float32),
                      "beta": (rng.standard_normal(v) * 0.2).astype(np.float32),
                      "mean": (rng.standard_normal(v) * 0.5).astype(np.float32),
                      "var": rng.uniform(0.5, 2.0, v).astype(np.float32)})
        c = v
    feat = c * s * s
    return {"convs": convs, "c": c, "s": s,
            "fc1_w": rng.uniform(-(6 / feat) ** 0.5, (6 / feat) ** 0.5, (HIDDEN, feat)).astype(np.float32),
            "fc1_b": rng.uniform(-0.1, 0.1, HIDDEN).astype(np.float32),
            "fc2_w": rng.uniform(-0.4, 0.4, (CLASSES, HIDDEN)).astype(np.float32),
            "fc2_b": rng.uniform(-0.1, 0.1, CLASSES).astype(np.float32)}


def _fc1_nhwc(w: dict) -> np.ndarray:
    """fc1's weight as (features, hidden) with features in NHWC flattening order."""
    c, s = w["c"], w["s"]
    return w["fc1_w"].reshape(HIDDEN, c, s, s).transpose(0, 2, 3, 1).reshape(HIDDEN, -1).T.copy()


def torch_vgg(seed: int = 0):
    import torch

    from models.vgg import VGG

    w = vgg_weights(seed)
    m = VGG(cfg=CFG, num_classes=CLASSES, in_channels=CIN, image_size=IMAGE, hidden=HIDDEN)
    convs = [x for x in m.features if isinstance(x, torch.nn.Conv2d)]
    bns = [x for x in m.features if isinstance(x, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for conv, bn, p in zip(convs, bns, w["convs"]):
            conv.weight.copy_(torch.from_numpy(p["w"]))
            conv.bias.copy_(torch.from_numpy(p["b"]))
            bn.weight.copy_(torch.from_numpy(p["gamma"]))
            bn.bias.copy_(torch.from_numpy(p["beta"]))
            bn.running_mean.copy_(torch.from_numpy(p["mean"]))
            bn.running_var.copy_(torch.from_numpy(p["var"]))
        fc1, fc2 = m.classifier[1], m.classifier[4]
        fc1.weight.copy_(torch.from_numpy(w["fc1_w"]))
        fc1.bias.copy_(torch.from_numpy(w["fc1_b"]))
        fc2.weight.copy_(torch.from_numpy(w["fc2_w"]))
        fc2.bias.copy_(torch.from_numpy(w["fc2_b"]))
    return m.eval()


def keras_vgg(seed: int = 0):
    import keras
    from keras import layers

    w = vgg_weights(seed)
    x = inp = keras.Input((IMAGE, IMAGE, CIN), name="image")
    k = 0
    for v in CFG:
        if v == "M":
            x = layers.MaxPooling2D(2, name=f"pool{k}")(x)
            continue
        p = w["convs"][k]
        conv = layers.Conv2D(v, 3, padding="same", name=f"conv{k}")
        bn = layers.BatchNormalization(epsilon=EPS, name=f"bn{k}")
        x = layers.ReLU(name=f"relu{k}")(bn(conv(x)))
        conv.set_weights([p["w"].transpose(2, 3, 1, 0), p["b"]])
        bn.set_weights([p["gamma"], p["beta"], p["mean"], p["var"]])
        k += 1
    x = layers.Flatten(name="flatten")(x)
    fc1 = layers.Dense(HIDDEN, activation="relu", name="fc1")
    x = layers.Dropout(0.5, name="dropout")(fc1(x))
    fc2 = layers.Dense(CLASSES, name="fc2")
    out = fc2(x)
    fc1.set_weights([_fc1_nhwc(w), w["fc1_b"]])
    fc2.set_weights([w["fc2_w"].T.copy(), w["fc2_b"]])
    return keras.Model(inp, out, name="vgg_keras")


def jax_vgg(seed: int = 0):
    import jax.numpy as jnp
    from flax import nnx

    w = vgg_weights(seed)

    class VGG(nnx.Module):
        def __init__(self, rngs):
            self.convs, self.bns, c = nnx.List(), nnx.List(), CIN
            for v in CFG:
                if v != "M":
                    self.convs.append(nnx.Conv(c, v, (3, 3), padding="SAME", rngs=rngs))
                    self.bns.append(nnx.BatchNorm(v, use_running_average=True, epsilon=EPS, rngs=rngs))
                    c = v
            self.fc1 = nnx.Linear(w["c"] * w["s"] ** 2, HIDDEN, rngs=rngs)
            self.fc2 = nnx.Linear(HIDDEN, CLASSES, rngs=rngs)

        def __call__(self, x):
            k = 0
            for v in CFG:
                if v == "M":
                    x = nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2))
                else:
                    x = nnx.relu(self.bns[k](self.convs[k](x)))
                    k += 1
            x = x.reshape(x.shape[0], -1)
            return self.fc2(nnx.relu(self.fc1(x)))

    m = VGG(nnx.Rngs(0))
    for conv, bn, p in zip(m.convs, m.bns, w["convs"]):
        conv.kernel.value = jnp.asarray(p["w"].transpose(2, 3, 1, 0))
        conv.bias.value = jnp.asarray(p["b"])
        bn.scale.value, bn.bias.value = jnp.asarray(p["gamma"]), jnp.asarray(p["beta"])
        bn.mean.value, bn.var.value = jnp.asarray(p["mean"]), jnp.asarray(p["var"])
    m.fc1.kernel.value, m.fc1.bias.value = jnp.asarray(_fc1_nhwc(w)), jnp.asarray(w["fc1_b"])
    m.fc2.kernel.value, m.fc2.bias.value = jnp.asarray(w["fc2_w"].T.copy()), jnp.asarray(w["fc2_b"])
    return m


def _randomize(model, seed: int):
    """Seeded weights for every variable; BatchNorm variances positive."""
    rng = np.random.default_rng(seed)
    vals = []
    for v in model.weights:
        shape = tuple(v.shape)
        if "variance" in v.path:
            vals.append(rng.uniform(0.5, 2.0, shape).astype(np.float32))
        elif "gamma" in v.path:
            vals.append(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
            vals.append((rng.standard_normal(shape) * (2.0 / fan_in) ** 0.5).astype(np.float32))
    model.set_weights(vals)
    return model


def keras_conv1d(seed: int = 0):
    import keras
    from keras import layers

    inp = keras.Input((64, 2), name="signal")
    x = layers.Conv1D(8, 5, padding="same", activation="relu", name="conv0")(inp)
    x = layers.MaxPooling1D(2, name="pool0")(x)
    x = layers.Conv1D(16, 3, name="conv1")(x)
    x = layers.BatchNormalization(epsilon=EPS, name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(4, name="dense")(x)
    return _randomize(keras.Model(inp, out, name="conv1d_keras"), seed)


def keras_mlp(seed: int = 0):
    import keras
    from keras import layers

    m = keras.Sequential([keras.Input((20,), name="features"), layers.Dense(32, activation="relu", name="h0"),
                          layers.Dense(16, activation="tanh", name="h1"), layers.Dense(5, name="logits")],
                         name="mlp_keras")
    return _randomize(m, seed)
