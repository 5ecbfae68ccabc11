"""Reference formulas in float64 numpy, written from docs/methods.md and
independent of mmrskd's torch implementation."""
import numpy as np


def softmax(z, t=1.0):
    z = np.asarray(z, np.float64) / t
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def standardize(z, eps=1e-7):
    """Logit standardization: ``(z - mean) / (std + eps)`` per row, std
    with divisor C - 1 (the official code's ``Tensor.std``)."""
    z = np.asarray(z, np.float64)
    mean = z.mean(-1, keepdims=True)
    std = np.sqrt(((z - mean)**2).sum(-1, keepdims=True) / (z.shape[-1] - 1))
    return (z - mean) / (std + eps)


def kl(p, q):
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = p > 0
    return float(np.sum(p[m] * (np.log(p[m]) - np.log(q[m]))))


def kd(zs, zt, t):
    return t * t * np.mean([kl(softmax(b, t), softmax(a, t))
                            for a, b in zip(zs, zt)])


def dkd_terms(zs_i, zt_i, y, t):
    ps, pt = softmax(zs_i, t), softmax(zt_i, t)
    bs = np.array([ps[y], 1 - ps[y]])
    bt = np.array([pt[y], 1 - pt[y]])
    nt = [j for j in range(len(ps)) if j != y]
    hs = ps[nt] / ps[nt].sum()
    ht = pt[nt] / pt[nt].sum()
    return kl(bt, bs), kl(ht, hs)


def dkd(zs, zt, y, alpha, beta, t):
    vals = []
    for a, b, c in zip(zs, zt, y):
        tckd, nckd = dkd_terms(a, b, c, t)
        vals.append(alpha * tckd + beta * nckd)
    return t * t * np.mean(vals)


def isdm(zs, zt, y, t, scale=None, margin=None, kd_w=4.0, ent_w=0.1):
    """``scale``: per-sample s (None = no IS); ``margin``: 'dynamic' m0=5,
    a float for fixed, None for no DM."""
    kls, ents = [], []
    for i, (a, b, c) in enumerate(zip(zs, zt, y)):
        p = softmax(b, t)
        if scale is not None:
            qt = np.clip(scale[i] * p[c], 1e-6, 1 - 1e-6)
            q = p * (1 - qt) / (1 - p[c])
            q[c] = qt
        else:
            q = p
        a = np.array(a, np.float64)
        if margin == 'dynamic':
            cc = softmax(b)[c]
            a[c] -= 5.0 * (2 * cc - 1)
        elif margin is not None:
            a[c] -= margin
        kls.append(kl(q, softmax(a, t)))
        ents.append(-np.log(q[c]) + np.sum(q * np.log(q)))
    loss = kd_w * t * t * np.mean(kls)
    if scale is not None:
        loss += ent_w * np.mean(ents)
    return loss
