#!/usr/bin/env python3
"""PyTorch reference for dpvae's benchmarks: the same models, objectives and batch.

    pytorch_reference.py check DIR          # DIR from `export_reference DIR`
    pytorch_reference.py time DIR --out F.json [--steps-conv N] [--steps-moons N] [--filter REGEX]

`check` loads every DIR/*.safetensors that export_reference wrote (dpvae's parameters, one
batch, the noise dpvae drew for it, dpvae's loss terms and gradients), computes the same
loss in PyTorch on the same weights, batch and noise, and compares the loss and every
parameter gradient (float32 tolerance). Exit status 1 when any disagrees.

`time` trains each of those models in PyTorch (fresh noise each step, Adam like dpvae,
FactorVAE's discriminator step after the VAE step) and writes steps per second as JSON.
Give PyTorch its best configuration: run with OPENBLAS_NUM_THREADS=1 and libopenblas0-pthread
installed (benchmarks/setup-pytorch.sh); this script sets torch.set_num_threads(--threads).

The architectures follow include/dpvae/nn/architecture.hpp, the flow include/dpvae/prior/affine_coupling.hpp
(docs/math.md "Decoupled prior"), the objectives include/dpvae/objectives/ (one header per objective).
The conv net's shape comes from the file's metadata (height, width, channels, conv_channels,
activation relu or leaky_relu with its slope; files without them: MNIST's 28 × 28 × 1, ReLU),
the batch from batch.x. dpvae stores images channels last (NHWC) and convolution weights
out × k × k × in; PyTorch wants NCHW and out × in × k × k, so weights are permuted on load, and
the weights of the Linear layer after the last convolution (and before the first transposed
one) have their columns (rows) reordered from (h, w, c) to (c, h, w) of that layer's feature
map (32 × 4 × 4 on 28 × 28 images, 32 × 5 × 5 on 32 × 32, 32 × 13 × 13 on 64 × 64), so
PyTorch needs no activation permutes at all. The batch itself is converted to NCHW once, as a
PyTorch user would store it (Model.data; not timed), and the reconstruction loss, a sum over
every pixel, is formed in that layout.
safetensors files are parsed by hand (json + numpy) when the `safetensors` package is absent.
"""
import argparse
import glob
import json
import math
import os
import re
import struct
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

LOG2PI = math.log(2 * math.pi)
DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "U64": np.uint64, "U8": np.uint8}


def load_safetensors(path):
    """(tensors: name -> numpy array, metadata: dict) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(raw[base + b:base + e], dtype=DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).copy()
    return out, meta


# --- architectures: lists of (kind, stride, pad) mirroring dpvae's Network layer indices ---
def conv_sizes(s):
    """Spatial sizes through the conv encoder (k4s2p1, k3, k4s2p1, k3): architecture.hpp's conv_sizes."""
    out = [s]
    out.append((out[-1] + 2 - 4) // 2 + 1)
    out.append(out[-1] - 2)
    out.append((out[-1] + 2 - 4) // 2 + 1)
    out.append(out[-1] - 2)
    return out


def conv_encoder(c, h, w, act):
    """act: ("relu",) or ("leaky", slope); (c, h, w): the last convolution's feature map."""
    return [("conv", 2, 1), act, ("conv", 1, 0), act, ("conv", 2, 1), act, ("conv", 1, 0),
            act, ("linear_from_image", c, h, w), act, ("linear",), act, ("linear",)]


def conv_decoder(c, h, w, act):
    return [("linear",), act, ("linear",), act, ("linear_to_image", c, h, w), act,
            ("convt", 1, 0), act, ("convt", 2, 1), act, ("convt", 1, 0), act, ("convt", 2, 1)]


def mlp(depth_linear, slope):
    layers = []
    for i in range(depth_linear):
        layers.append(("linear",))
        if i < depth_linear - 1:
            layers.append(("leaky", slope))
    return layers


def hwc_to_chw_index(c, h, w):
    """perm such that chw_vector = hwc_vector[perm]."""
    idx = np.arange(h * w * c).reshape(h, w, c)  # hwc positions
    return idx.transpose(2, 0, 1).reshape(-1)


class Net:
    """A functional network whose parameters are torch leaf tensors in PyTorch layout."""

    def __init__(self, layers, tensors, prefix, device="cpu"):
        self.layers, self.params, self.names = layers, {}, {}
        for i, layer in enumerate(layers):
            kind = layer[0]
            if kind in ("relu", "leaky", "tanh"):
                continue
            w = tensors[f"{prefix}.{i}.weight"].astype(np.float32)
            b = tensors[f"{prefix}.{i}.bias"].astype(np.float32)
            if kind in ("conv", "convt"):
                w = w.transpose(0, 3, 1, 2)  # out×k×k×in -> out×in×k×k (convt: in×k×k×out -> in×out×k×k)
            elif kind == "linear_from_image":
                _, c, h, ww = layer
                w = w[:, hwc_to_chw_index(c, h, ww)]
            elif kind == "linear_to_image":
                _, c, h, ww = layer
                perm = hwc_to_chw_index(c, h, ww)
                w, b = w[perm, :], b[perm]
            self.params[i] = (torch.tensor(np.ascontiguousarray(w), requires_grad=True),
                              torch.tensor(np.ascontiguousarray(b), requires_grad=True))
            self.names[i] = (f"{prefix}.{i}.weight", f"{prefix}.{i}.bias")

    def parameters(self):
        return [p for i in sorted(self.params) for p in self.params[i]]

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            kind = layer[0]
            if kind == "relu":
                x = F.relu(x)
            elif kind == "tanh":
                x = torch.tanh(x)
            elif kind == "leaky":
                x = F.leaky_relu(x, layer[1])
            elif kind == "conv":
                x = F.conv2d(x, *self.params[i], stride=layer[1], padding=layer[2])
            elif kind == "convt":
                x = F.conv_transpose2d(x, *self.params[i], stride=layer[1], padding=layer[2])
            elif kind == "linear_from_image":
                x = F.linear(x.reshape(x.shape[0], -1), *self.params[i])
            elif kind == "linear_to_image":
                _, c, h, w = layer
                x = F.linear(x, *self.params[i]).reshape(x.shape[0], c, h, w)
            else:
                x = F.linear(x, *self.params[i])
        return x

    def grads_in_dpvae_layout(self):
        """{dpvae tensor name: numpy gradient in dpvae's layout}."""
        out = {}
        for i, (w, b) in self.params.items():
            kind = self.layers[i][0]
            gw = w.grad.detach().numpy()
            gb = b.grad.detach().numpy()
            if kind in ("conv", "convt"):
                gw = gw.transpose(0, 2, 3, 1)
            elif kind == "linear_from_image":
                _, c, h, ww = self.layers[i]
                inv = np.argsort(hwc_to_chw_index(c, h, ww))
                gw = gw[:, inv]
            elif kind == "linear_to_image":
                _, c, h, ww = self.layers[i]
                inv = np.argsort(hwc_to_chw_index(c, h, ww))
                gw, gb = gw[inv, :], gb[inv]
            out[self.names[i][0]], out[self.names[i][1]] = gw, gb
        return out


class Flow:
    """RealNVP affine coupling flow f: z -> z0 (prior/affine_coupling.hpp); None blocks = identity prior."""

    def __init__(self, tensors, d, blocks):
        self.d, self.blocks, self.nets = d, blocks, []
        coupling = [("linear",), ("leaky", 0.01), ("linear",), ("leaky", 0.01), ("linear",), ("tanh",)]
        for k in range(blocks):
            s = Net(coupling, tensors, f"prior.block{k}.s")
            t = Net(coupling, tensors, f"prior.block{k}.t")
            half = d // 2
            m = torch.tensor([1.0 if ((j < half) == (k % 2 == 0)) else 0.0 for j in range(d)])
            self.nets.append((s, t, m))

    def parameters(self):
        return [p for s, t, _ in self.nets for p in s.parameters() + t.parameters()]

    def forward(self, z):
        logdet = torch.zeros(z.shape[0])
        for s_net, t_net, b in self.nets:
            h = z * b
            s, t = s_net(h), t_net(h)
            z = h + (1 - b) * (z * torch.exp(s) + t)
            logdet = logdet + ((1 - b) * s).sum(1)
        return z, logdet

    def inverse(self, z0):
        for s_net, t_net, b in reversed(self.nets):
            h = z0 * b
            s, t = s_net(h), t_net(h)
            z0 = h + (1 - b) * ((z0 - t) * torch.exp(-s))
        return z0


class Model:
    def __init__(self, path):
        tensors, meta = load_safetensors(path)
        self.tensors, self.meta = tensors, meta
        ident = meta["identity"]  # objective/prior/arch/d=../in=..[/K=..]/f32
        parts = ident.split("/")
        self.objective, self.prior, self.arch = parts[0], parts[1], parts[2]
        self.d = int(parts[3].split("=")[1])
        self.data_dim = int(parts[4].split("=")[1])
        self.batch = int(meta.get("batch", tensors["batch.x"].shape[0]))
        if self.arch == "conv":
            self.height, self.width = int(meta.get("height", 28)), int(meta.get("width", 28))
            self.channels = int(meta.get("channels", 1))
            if self.height * self.width * self.channels != self.data_dim:
                raise ValueError(f"{path}: {self.height} × {self.width} × {self.channels} images do not have "
                                 f"{self.data_dim} values")
            cc = int(meta.get("conv_channels", 32))
            self.activation = meta.get("activation", "relu")
            self.slope = float(meta.get("slope", 0))
            if self.activation == "relu":
                act = ("relu",)
            elif self.activation == "leaky_relu":
                act = ("leaky", self.slope)
            else:
                raise ValueError(f"{path}: activation {self.activation} is not in the PyTorch reference")
            fh, fw = conv_sizes(self.height)[4], conv_sizes(self.width)[4]
            self.encoder = Net(conv_encoder(cc, fh, fw, act), tensors, "encoder")
            self.decoder = Net(conv_decoder(cc, fh, fw, act), tensors, "decoder")
        else:
            n_enc = len([k for k in tensors if re.fullmatch(r"encoder\.\d+\.weight", k)])
            n_dec = len([k for k in tensors if re.fullmatch(r"decoder\.\d+\.weight", k)])
            self.encoder = Net(mlp(n_enc, 0.01), tensors, "encoder")
            self.decoder = Net(mlp(n_dec, 0.01), tensors, "decoder")
        self.flow = Flow(tensors, self.d, int(meta["flow_blocks"])) if self.prior == "decoupled" else None
        self.disc = None
        if self.objective == "factor":
            n_d = len([k for k in tensors if re.fullmatch(r"discriminator\.\d+\.weight", k)])
            self.disc = Net(mlp(n_d, 0.2), tensors, "discriminator")
        self.M = float(meta["dataset_size"])
        self.lik = meta["likelihood"]
        self.w = float(meta["likelihood_weight"])
        self.lv_min, self.lv_max = float(meta["logvar_min"]), float(meta["logvar_max"])
        self.hyper = {k: float(meta[k]) for k in ("alpha", "beta", "gamma", "lambda") if k in meta}

    def vae_parameters(self):
        p = self.encoder.parameters() + self.decoder.parameters()
        return p + (self.flow.parameters() if self.flow else [])

    def data(self, x):
        """dpvae's batch (n × D, images channels last) in PyTorch's layout: NCHW for the conv net."""
        if self.arch != "conv":
            return x
        x = x.reshape(x.shape[0], self.height, self.width, self.channels).permute(0, 3, 1, 2)
        return x.contiguous()

    def log_p(self, z):
        """log p(z) per row and f(z)."""
        if self.flow is None:
            return -0.5 * (z * z).sum(1) - 0.5 * LOG2PI * self.d, z, torch.zeros(z.shape[0])
        z0, logdet = self.flow.forward(z)
        return -0.5 * (z0 * z0).sum(1) - 0.5 * LOG2PI * self.d + logdet, z0, logdet

    def kl(self, mu, logvar, z):
        if self.flow is None:
            return 0.5 * (mu * mu + logvar.exp() - logvar - 1).sum(1)
        z0, logdet = self.flow.forward(z)
        return -0.5 * (1 + logvar).sum(1) + 0.5 * (z0 * z0).sum(1) - logdet

    def loss(self, x, eps, z0):
        """dpvae's loss terms (objectives/ (one header per objective)), batch means in nats; returns (loss, terms, z).
        x: the batch in PyTorch's layout (Model.data); the reconstruction term sums over every value, so it
        is the same in either layout."""
        n = x.shape[0]
        h = self.encoder(x)
        mu, logvar = h[:, :self.d], h[:, self.d:].clamp(self.lv_min, self.lv_max)
        z = mu + torch.exp(0.5 * logvar) * eps
        out = self.decoder(z)
        if self.lik == "bernoulli":
            recon = F.binary_cross_entropy_with_logits(out, x, reduction="sum") / n
        else:
            recon = self.w * ((x - out) ** 2).sum() / n
        terms = {"recon": recon}
        o, hp = self.objective, self.hyper
        if o == "vae":
            kl = self.kl(mu, logvar, z).mean()
            latent = kl
            terms["kl"] = kl
        elif o == "beta-tc":
            log_qzx = -0.5 * (LOG2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(1)
            a = -0.5 * (LOG2PI + logvar[None] + (z[:, None] - mu[None]) ** 2 * torch.exp(-logvar)[None])
            log_norm = math.log(n * self.M)
            log_qz = torch.logsumexp(a.sum(2), 1) - log_norm
            log_prod = (torch.logsumexp(a, 1) - log_norm).sum(1)
            log_pz, _, _ = self.log_p(z)
            mi, tc, dwkl = (log_qzx - log_qz).mean(), (log_qz - log_prod).mean(), (log_prod - log_pz).mean()
            latent = hp["alpha"] * mi + hp["beta"] * tc + hp["gamma"] * dwkl
            terms.update(kl=mi + tc + dwkl, mi=mi, tc=tc, dwkl=dwkl)
        elif o == "factor":
            kl = self.kl(mu, logvar, z).mean()
            logits = self.disc(z)
            tc = (logits[:, 0] - logits[:, 1]).mean()
            latent = kl + hp["gamma"] * tc
            terms.update(kl=kl, tc=tc)
        elif o == "info":
            kl = self.kl(mu, logvar, z).mean()
            samples = self.flow.inverse(z0) if self.flow else z0
            w = hp["alpha"] + hp["lambda"] - 1
            mmd = mmd_rbf(z, samples)
            latent = (1 - hp["alpha"]) * kl + w * mmd
            terms.update(kl=kl, mmd=mmd)
        else:
            raise ValueError(f"objective {o} is not in the PyTorch reference")
        loss = recon + latent
        terms["loss"] = loss
        return loss, terms, z

    def dpvae_grads(self):
        g = self.encoder.grads_in_dpvae_layout()
        g.update(self.decoder.grads_in_dpvae_layout())
        if self.flow:
            for s, t, _ in self.flow.nets:
                g.update(s.grads_in_dpvae_layout())
                g.update(t.grads_in_dpvae_layout())
        return g


def mmd_rbf(x, y):
    """Unbiased MMD² with k(a, b) = exp(−‖a − b‖² / d²) (estimators.hpp)."""
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    scale = float(d * d)

    def k(a, b):
        return torch.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / scale)

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return sxx + syy - 2 * kxy.sum() / (n * m)


def check(directory):
    files = sorted(glob.glob(os.path.join(directory, "*.safetensors")))
    if not files:
        print(f"pytorch_reference: no .safetensors files in {directory}", file=sys.stderr)
        sys.exit(2)
    ok, rows = True, []
    for path in files:
        m = Model(path)
        x = m.data(torch.tensor(m.tensors["batch.x"]))
        eps = torch.tensor(m.tensors["batch.eps"])
        z0 = torch.tensor(m.tensors["batch.z0"])
        params = m.vae_parameters()
        loss, terms, _ = m.loss(x, eps, z0)
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g
        worst_term, worst_grad, worst_name = 0.0, 0.0, ""
        for k, v in terms.items():
            ref = float(m.meta["term." + k])
            err = abs(float(v) - ref) / max(1.0, abs(ref))
            worst_term = max(worst_term, err)
        for name, g in m.dpvae_grads().items():
            ref = m.tensors["grad." + name]
            scale = max(float(np.abs(ref).max()), 1e-6)
            err = float(np.abs(g - ref).max()) / scale
            if err > worst_grad:
                worst_grad, worst_name = err, name
        good = worst_term < 1e-4 and worst_grad < 2e-3
        ok &= good
        rows.append({"model": os.path.basename(path)[:-len(".safetensors")], "loss_dpvae": float(m.meta["term.loss"]),
                     "loss_pytorch": float(terms["loss"]), "max_term_rel_err": worst_term,
                     "max_grad_rel_err": worst_grad, "worst_tensor": worst_name, "ok": good})
        print(f"{rows[-1]['model']:28s} loss dpvae {rows[-1]['loss_dpvae']:.6f} pytorch {rows[-1]['loss_pytorch']:.6f}"
              f"  terms rel err {worst_term:.1e}  grads rel err {worst_grad:.1e} ({worst_name})  {'ok' if good else 'MISMATCH'}")
    return rows, ok


def time_models(directory, steps_conv, steps_moons, threads, pattern, seconds):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    results = []
    for path in sorted(glob.glob(os.path.join(directory, "*.safetensors"))):
        name = os.path.basename(path)[:-len(".safetensors")]
        if pattern and not re.search(pattern, name):
            continue
        m = Model(path)
        x = m.data(torch.tensor(m.tensors["batch.x"]))  # once, outside the timed steps
        params = m.vae_parameters()
        opt = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
        dopt = None
        if m.disc is not None:
            dopt = torch.optim.Adam(m.disc.parameters(), lr=1e-4, betas=(0.5, 0.9), eps=1e-8)
        n, d = x.shape[0], m.d

        def step():
            eps = torch.randn(n, d)
            z0 = torch.randn(n, d) if m.objective == "info" else None
            loss, _, z = m.loss(x, eps, z0)
            grads = torch.autograd.grad(loss, params)  # not into D: the VAE step never writes it
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()
            if dopt is not None:
                zd = z.detach()
                perm = torch.stack([zd[torch.randperm(n), k] for k in range(d)], 1)
                logits = torch.cat([m.disc(zd), m.disc(perm)])
                labels = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
                dloss = F.cross_entropy(logits, labels)
                dopt.zero_grad(set_to_none=True)
                dloss.backward()
                dopt.step()

        for _ in range(3):
            step()
        target = steps_conv if m.arch == "conv" else steps_moons
        t0, c0 = time.perf_counter(), time.process_time()
        done = 0
        while done < target or time.perf_counter() - t0 < seconds:
            step()
            done += 1
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        results.append({"name": name, "data": m.meta.get("data", name.split("-")[0]), "objective": m.objective,
                        "prior": m.prior, "batch": n, "steps": done, "seconds": dt, "steps_per_s": done / dt,
                        "ms_per_step": 1000 * dt / done, "cpu_ms_per_step": 1000 * cpu / done, "threads": threads})
        print(f"{name:28s} {1000 * dt / done:9.3f} ms/step  {done / dt:9.2f} steps/s", flush=True)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["check", "time"])
    ap.add_argument("dir")
    ap.add_argument("--out", help="write results as JSON here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps-conv", "--steps-mnist", dest="steps_conv", type=int, default=10,
                    help="at least this many timed steps per conv-net model (mnist, svhn, celeba)")
    ap.add_argument("--steps-moons", type=int, default=200, help="at least this many timed steps per two-moons model")
    ap.add_argument("--seconds", type=float, default=1.0, help="run at least this long per model")
    ap.add_argument("--filter", default="", help="regex on model names")
    a = ap.parse_args()
    info = {"torch": torch.__version__, "threads": a.threads,
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", ""),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "")}
    if a.mode == "check":
        torch.set_num_threads(a.threads)
        rows, ok = check(a.dir)
        payload = {"context": info, "check": rows, "all_ok": ok}
        status = 0 if ok else 1
    else:
        payload = {"context": info,
                   "timings": time_models(a.dir, a.steps_conv, a.steps_moons, a.threads, a.filter, a.seconds)}
        status = 0
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=1)
        os.replace(tmp, a.out)
    return status


if __name__ == "__main__":
    sys.exit(main())
