#!/usr/bin/python3
"""finding.py KIND FILE... -- the one-sentence finding under a report figure.

Reads the HDF5 files the pipeline wrote (h5py, numpy) and prints one line:
the lecture's conclusion for that figure and what our numbers say, with the
numbers computed here from the files, never typed in. Called by the rules
of pipelines/*.mk through $(call caption_finding,...) (demo.mk), which
appends the line to the figure's caption. No single quotes in the output
(the caption is written with printf '%s'). Exit 1 with a message on stderr
when a file lacks what the KIND needs.

KINDs (files in order):
  classify CLS                cnn-forward output of the photos
  shuffle CLS                 row 0 the cat, then shuffled copies
  grid-occlude CLS            copies of the cat under grey squares
  silhouette CLS              a cat, its silhouette, a horse's silhouette
  texture CLS                 the cat, the cat in another texture
  occlude-strongest MAPS      cnn-occlude --output percent, strongest map
  occlude-class MAPS          cnn-occlude --measure prob --output raw
  saliency GRAD GUIDED DECONV cnn-saliency files of the same photos
  gradcam MAPS                cnn-saliency --method gradcam
  patches PATCHES...          cnn-patches files, shallow to deep
  ascend-classes CLS          the synthesised images, classified
  ascend-units ASCEND...      cnn-ascend files of units
  style STYLED...             cnn-style files (transfer or texture synthesis)
  filters WEIGHTS             cnn-extract-layer --weights of a first layer
  mnist-occlude-prob MAPS [PCT]  cnn-occlude -t class=8 --measure prob --output raw
                              (and the --output percent run of the same 8s)
  mnist-occlude-pct MAPS      cnn-occlude --output percent
  mnist-topk TOP BOTTOM       cnn-topk files of the 8s, highest and lowest
  mnist-featuremap TOPK K     cnn-topk --unit ... of conv2 maxima, K a row
  mnist-pca PCA               cnn-pca output
  mnist-saliency G GB D       cnn-saliency files: gradient, guided, deconvnet
  mnist-ascend CLS            the synthesised digits, classified
  video ACTS UNIT             cnn-forward -l LAYER of the frames, the unit shown
  pick-unit ACTS              the unit to show: varies most across frames
  pick-frame ACTS UNIT        the frame where UNIT is strongest (its id)
"""
import sys

import h5py
import numpy as np

CATS = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def die(msg):
    sys.stderr.write("finding.py: %s\n" % msg)
    sys.exit(1)


def dset(f, name):
    if name not in f:
        die("%s: no /%s" % (f.filename, name))
    return f[name][()]


def names(f):
    """Class names, each cut to its first synonym ("tabby, tabby cat": tabby)."""
    return [(c.decode() if isinstance(c, bytes) else str(c)).split(",")[0]
            for c in dset(f, "classes")]


def base(p):
    p = p.decode() if isinstance(p, bytes) else str(p)
    return p.rsplit("/", 1)[-1]


def top1(f, i):
    probs = dset(f, "probs")
    k = int(np.argmax(probs[i]))
    return names(f)[k], float(probs[i, k])


def cat_mass(f, i):
    cls = names(f)
    probs = dset(f, "probs")
    return float(sum(probs[i, k] for k, c in enumerate(cls) if c in CATS))


def pct(x):
    return "%.0f%%" % (100 * x)


def classify(path):
    with h5py.File(path, "r") as f:
        paths = dset(f, "paths")
        parts = []
        sure = 0
        for i in range(len(paths)):
            c, p = top1(f, i)
            sure += p >= 0.9
            parts.append("%s %s %.3f" % (base(paths[i]).rsplit(".", 1)[0], c, p))
        return ("The lecture shows a classifier that is highly confident of its tiger cat. "
                "Here %d of %d photos get a top-1 probability of 0.9 or more: %s."
                % (sure, len(paths), "; ".join(parts)))


def shuffle(path):
    with h5py.File(path, "r") as f:
        n = len(dset(f, "probs"))
        c0, p0 = top1(f, 0)
        rest = [top1(f, i) for i in range(1, n)]
        still = sum(1 for c, _ in rest if c in CATS)
        return ("The lecture: maybe parts, but certainly not arranged properly. "
                "Here too: the whole cat is %s (%.2f; all cat classes %s) and in %d of %d "
                "shuffled copies the top class is still a cat (%s; cat classes %s)."
                % (c0, p0, pct(cat_mass(f, 0)), still, n - 1,
                   ", ".join("%s %.2f" % r for r in rest),
                   ", ".join(pct(cat_mass(f, i)) for i in range(1, n))))


def grid_occlude(path):
    with h5py.File(path, "r") as f:
        n = len(dset(f, "probs"))
        tops = [top1(f, i) for i in range(n)]
        cats = sum(1 for c, _ in tops if c in CATS)
        mass = [cat_mass(f, i) for i in range(n)]
        lo = int(np.argmin(mass))
        return ("The lecture: probably not parts, covering parts still gives the right class. "
                "Here the top class stays a cat in %d of %d occluded copies; the cat classes "
                "together never fall below %s (copy %d, %s)."
                % (cats, n, pct(mass[lo]), lo + 1, base(dset(f, "paths")[lo]).split("#")[-1]
                   if "paths" in f else "-"))


def silhouette(path):
    with h5py.File(path, "r") as f:
        c0, p0 = top1(f, 0)
        c1, p1 = top1(f, 1)
        c2, p2 = top1(f, 2)
        verdict = ("so shape alone does not carry the class, as the lecture says"
                   if c1 not in CATS else "so this model does find the cat in its shape, "
                   "unlike the lecture")
        return ("The lecture: shape? Probably not. Here the cat is %s (%.2f) but its silhouette "
                "is %s (%.2f; cat classes %s, down from %s), %s; the horse silhouette is %s (%.2f)."
                % (c0, p0, c1, p1, pct(cat_mass(f, 1)), pct(cat_mass(f, 0)), verdict, c2, p2))


def texture(path):
    with h5py.File(path, "r") as f:
        c0, p0 = top1(f, 0)
        c1, p1 = top1(f, 1)
        return ("The lecture: perhaps it is the texture. Here the cat redrawn in another "
                "texture is %s (%.2f): the cat classes fall from %s to %s, %s."
                % (c1, p1, pct(cat_mass(f, 0)), pct(cat_mass(f, 1)),
                   "the texture wins, as the lecture suggests" if c1 not in CATS
                   else "the cat survives the new texture, unlike the lecture"))


def occlude_strongest(path):
    with h5py.File(path, "r") as f:
        m = dset(f, "maps")
        paths = dset(f, "paths") if "paths" in f else None
        parts = []
        shares = []
        for i in range(len(m)):
            flat = m[i].ravel()
            share = float(np.mean(flat > 0.5 * flat.max())) if flat.max() > 0 else 0.0
            shares.append(share)
            parts.append("%s %.0f%% (half of that in %.0f%% of positions)"
                         % (base(paths[i]).rsplit(".", 1)[0] if paths is not None else i,
                            flat.max(), 100 * share))
        local = sum(1 for x in shares if x < 0.1)
        return ("The lecture (Zeiler and Fergus): the strongest map of a deep layer answers to one "
                "part (faces). Here its largest decrease per photo is %s: in %d of %d photos "
                "the map rests on a few positions (under 10%% of them), %s."
                % ("; ".join(parts), local, len(m),
                   "one part, as in the lecture" if 2 * local > len(m)
                   else "elsewhere it is spread out, unlike the lecture"))


def occlude_class(path):
    with h5py.File(path, "r") as f:
        m = dset(f, "maps")
        b = dset(f, "baseline")
        paths = dset(f, "paths") if "paths" in f else None
        cls = names(f) if "classes" in f else None
        tgt = dset(f, "target") if "target" in f else None
        parts = []
        drops = []
        for i in range(len(m)):
            d = m[i] - b[i]
            name = base(paths[i]).rsplit(".", 1)[0] if paths is not None else str(i)
            what = cls[int(tgt[i])] if cls is not None and tgt is not None else "its class"
            parts.append("%s (%s %.3f): down to %.3f at worst, up by %.3f at most"
                         % (name, what, float(b[i]), float(b[i] + d.min()), float(d.max())))
            drops.append(-float(d.min()))
        big = sum(1 for x in drops if x >= 0.1)
        return ("The lecture: hiding the object drops its class a lot, hiding a competitor "
                "(the faces) raises it. Here: %s; a drop of 0.1 or more in %d of %d photos%s."
                % ("; ".join(parts), big, len(m),
                   "" if 2 * big > len(m) else ": the confident photos barely move, "
                   "a smaller effect than the lecture shows"))


def top_share(a, q):
    """Share of sum |a| held by the top q fraction of its values."""
    v = np.sort(np.abs(a).ravel())[::-1]
    k = max(1, int(round(q * len(v))))
    s = v.sum()
    return float(v[:k].sum() / s) if s > 0 else 0.0


def saliency(grad, guided, deconv):
    out = []
    for path, label in ((grad, "gradient"), (guided, "guided backprop"), (deconv, "deconvnet")):
        with h5py.File(path, "r") as f:
            a = dset(f, "attr")
            out.append((label, np.mean([top_share(a[i], 0.05) for i in range(len(a))])))
    hi = max(out, key=lambda t: t[1])[0]
    lo = min(out, key=lambda t: t[1])[0]
    return ("The lecture: these maps show the input elements that most affect the class. "
            "Here the share of all |attribution| in the top 5%% of pixels (mean over the photos) is %s; "
            "%s concentrates most, %s is the most diffuse."
            % (", ".join("%s %s" % (lab, pct(v)) for lab, v in out), hi, lo))


def gradcam(path):
    with h5py.File(path, "r") as f:
        m = dset(f, "maps")
        paths = dset(f, "paths") if "paths" in f else None
        cam = f["cam"].shape[-2:] if "cam" in f else m.shape[-2:]
    parts = []
    for i in range(len(m)):
        x = m[i]
        share = float(np.mean(x > 0.5 * x.max())) if x.max() > 0 else 0.0
        parts.append("%s %s" % (base(paths[i]).rsplit(".", 1)[0] if paths is not None else i,
                                pct(share)))
    return ("Beyond the lecture: like occlusion, Grad-CAM marks the region the class rests on, coarsely (the "
            "layer is %dx%d). Here the region above half its peak covers %s of each photo."
            % (cam[0], cam[1], ", ".join(parts)))


def patch_corr(f):
    """Mean pixel correlation between the patches of one map (over pairs),
    averaged over the maps: near 1 when a map's patches look alike pixel
    by pixel (one edge, one colour), near 0 when they differ."""
    img = f["images"][()]
    ch = dset(f, "channel")
    out = []
    for c in np.unique(ch):
        x = img[ch == c].reshape(int(np.sum(ch == c)), -1)
        x = x - x.mean(1, keepdims=True)
        n = np.linalg.norm(x, axis=1)
        x = x[n > 0] / n[n > 0, None]
        if len(x) > 1:
            r = x @ x.T
            out.append((r.sum() - np.trace(r)) / (len(x) * (len(x) - 1)))
    return float(np.mean(out)) if out else 0.0


def layer_of(f):
    v = f.attrs.get("layer", b"?")
    return v.decode() if isinstance(v, bytes) else str(v)


def patches(this, *paths):
    """THIS: the figure's layer; PATHS: every layer, shallow to deep."""
    rows = []
    for p in paths:
        with h5py.File(p, "r") as f:
            rows.append((layer_of(f), f["images"].shape[2], patch_corr(f)))
    with h5py.File(this, "r") as f:
        me, size, r = layer_of(f), f["images"].shape[2], patch_corr(f)
    falls = rows[0][2] > 2 * rows[-1][2]
    return ("The lecture (Zeiler and Fergus): shallow maps match lines and shades of colour, "
            "deeper maps combine them into parts and objects (dog faces, text). Here the %d px "
            "patches of a %s map correlate pixel by pixel at r = %.2f on average (%s): %s."
            % (size, me, r, ", ".join("%s %.2f" % (l, c) for l, _, c in rows),
               "the patches of the shallowest maps are near copies of one edge or colour, "
               "deeper maps gather patches that differ pixel by pixel, as the lecture says"
               if falls else "the patches do not grow more varied with depth, unlike the lecture"))


def ascend_classes(path):
    with h5py.File(path, "r") as f:
        n = len(dset(f, "probs"))
        cls = names(f)
        lab = dset(f, "labels")
        probs = dset(f, "probs")
        parts = []
        ok = 0
        for i in range(n):
            c, p = top1(f, i)
            want = cls[int(lab[i])]
            ok += c == want
            parts.append("%s as %s %.2f (%s %.2f)" % (want, c, p, want, float(probs[i, lab[i]])))
        return ("The lecture: the synthesised input is a canonical example of its class. Here "
                "%d of %d are read as their own class (%s)%s." % (ok, n, "; ".join(parts),
                "" if ok == n else ": maximising a logit does not make the class the most "
                "probable (its own probability as low as %.2f), unlike the lecture"
                % min(float(probs[i, lab[i]]) for i in range(n))))


def mnist_occlude_prob(path, pct_path=None):
    with h5py.File(path, "r") as f:
        m = dset(f, "maps")
        b = dset(f, "baseline")
        lo = float(m.min())
    logit = ""
    if pct_path:
        with h5py.File(pct_path, "r") as f:
            logit = (" though the logit of 8 itself falls by up to %.0f%%"
                     % float(dset(f, "maps").max()))
        return ("The lecture: the mere presence of the square changes the probability of 8 "
                "greatly, even away from the waist. Here the probability of 8 stays at or "
                "above %.4f for every position of the square on all %d eights (clean: at least "
                "%.6g)%s: this model does not show the lecture sensitivity."
                % (lo, len(m), float(b.min()), logit)
                if lo >= 0.5 else
                "The lecture: the mere presence of the square changes the probability of 8 "
                "greatly. Here it falls to %.4f at worst (clean: at least %.6g), as in the lecture."
                % (lo, float(b.min())))


def mnist_occlude_pct(path):
    with h5py.File(path, "r") as f:
        m = dset(f, "maps")
        per = m.reshape(len(m), -1)
        return ("The lecture: the square lowers the logit even where it hides nothing. Here "
                "the median cell lowers the true logit by %.0f%% and the worst by %.0f%%, "
                "%.0f%% of cells lower it by more than 10%%."
                % (float(np.median(per)), float(per.max()), 100 * float(np.mean(per > 10))))


def mnist_topk(top, bottom):
    with h5py.File(top, "r") as f:
        st = dset(f, "scores")
    with h5py.File(bottom, "r") as f:
        sb = dset(f, "scores")
    lo = float(st.min())
    # Near 1 as the captions write it: 1 minus the distance, two digits.
    least = "1 - %.1e" % (1 - lo) if 0.999 < lo < 1 else "%.4f" % lo
    return ("The lecture: much lower probability for thin, or left-tilted, 8s. Here the 16 "
            "surest 8s have probability of 8 at least %s, the 16 least sure at most %.3f "
            "(%d of them below 0.5: misclassified)."
            % (least, float(sb.max()), int(np.sum(sb < 0.5))))


def mnist_featuremap(path, k):
    with h5py.File(path, "r") as f:
        lab = dset(f, "labels")
    k = int(k)
    parts = []
    for r in range(len(lab) // k):
        vals, cnt = np.unique(lab[r * k:(r + 1) * k], return_counts=True)
        j = int(np.argmax(cnt))
        parts.append("%d of %d are %ds" % (cnt[j], k, vals[j]))
    return ("The lecture: if the top examples share a property, the map may encode it. "
            "Here, row by row: %s." % ", ".join(parts))


def mnist_pca(path):
    with h5py.File(path, "r") as f:
        r = dset(f, "explained_variance_ratio")
        p = (f["projections"] if "projections" in f else f["features"])[:, :2]
        lab = dset(f, "labels")
        # Between-class share of the 2-D scatter: how much of the spread the
        # digit explains (1: perfect clusters, 0: none).
        mu = p.mean(0)
        tot = float(((p - mu) ** 2).sum())
        btw = float(sum(np.sum(lab == c) * ((p[lab == c].mean(0) - mu) ** 2).sum()
                        for c in np.unique(lab)))
        return ("The lecture: similar digits cluster together. Here PC1 and PC2 explain %s of "
                "the variance and the digit accounts for %s of the scatter of the points."
                % (pct(float(r[0] + r[1])), pct(btw / tot if tot > 0 else 0)))


def mnist_saliency(*paths):
    shares = []
    for p in paths:
        with h5py.File(p, "r") as f:
            m = dset(f, "maps")
        shares.append(np.mean([top_share(m[i], 0.05) for i in range(len(m))]))
    return ("The lecture: these maps pick the input pixels that most affect the class. Here the share of "
            "|d logit / d pixel| in the top 5%% of pixels is: gradient %s, guided backprop %s, "
            "deconvnet %s." % tuple(pct(s) for s in shares))


def mnist_ascend(path):
    with h5py.File(path, "r") as f:
        n = len(dset(f, "probs"))
        ok = sum(1 for i in range(n) if int(np.argmax(f["probs"][i])) == i)
        pmin = min(float(f["probs"][i, i]) for i in range(n))
        return ("The lecture: the synthesised input is the pattern the model matches for the "
                "class. Here %d of %d are read as their class, with probability at least %.6g."
                % (ok, n, pmin))


def video(acts, unit):
    with h5py.File(acts, "r") as f:
        grp = f["act"]
        layer = list(grp)[0]
        a = grp[layer][()]
    c = int(unit)
    mx = a.reshape(a.shape[0], a.shape[1], -1).max(2)
    strongest = mx.argmax(1)
    u = mx[:, c]
    return ("The lecture (Yosinski): watch the layer respond as the content changes. Here "
            "unit %d of %s is the strongest map in %d of %d frames, and its maximum moves "
            "between %.2f and %.2f; %d different maps are the strongest at some frame."
            % (c, layer, int(np.sum(strongest == c)), len(mx), float(u.min()), float(u.max()),
               len(np.unique(strongest))))


def pick_unit(acts):
    """The video's unit: the map whose per-frame maximum varies most
    (coefficient of variation) among those whose largest value is within
    the layer's strongest maps (top half by peak)."""
    with h5py.File(acts, "r") as f:
        grp = f["act"]
        a = grp[list(grp)[0]][()]
    mx = a.reshape(a.shape[0], a.shape[1], -1).max(2)
    peak = mx.max(0)
    ok = peak >= np.median(peak)
    cv = mx.std(0) / np.maximum(mx.mean(0), 1e-6)
    cv[~ok] = -1
    return "%d" % int(np.argmax(cv))


def pick_frame(acts, unit):
    """The frame where UNIT's maximum is largest."""
    with h5py.File(acts, "r") as f:
        grp = f["act"]
        a = grp[list(grp)[0]][:, int(unit)]
        ids = f["ids"][()] if "ids" in f else np.arange(len(a))
    return "%d" % int(ids[int(np.argmax(a.reshape(len(a), -1).max(1)))])


def style(*paths):
    parts = []
    for p in paths:
        with h5py.File(p, "r") as f:
            loss = dset(f, "loss")
            src = f.attrs.get("style", b"?")
        src = base(src).rsplit(".", 1)[0]
        parts.append("%s: style loss %.3g to %.3g (%.0f-fold down), content loss %.3g to %.3g"
                     % (src, loss[0, 2], loss[-1, 2], loss[0, 2] / max(loss[-1, 2], 1e-30),
                        loss[0, 1], loss[-1, 1]))
    return ("The lecture ends on gradient ascent with cool cost functions: neural style "
            "transfer. Here, over the Adam steps: %s." % "; ".join(parts))


def ascend_units(*paths):
    parts = []
    for p in paths:
        with h5py.File(p, "r") as f:
            v = dset(f, "values")
            t = f.attrs.get("target", b"?")
        t = t.decode() if isinstance(t, bytes) else str(t)
        parts.append("%s %.2f to %.2f" % (t, v[0], v[-1]))
    return ("The lecture: any single unit can be inverted to show the pattern it matches. "
            "Here each unit's value went from noise to its end value: %s." % "; ".join(parts))


def filters(path):
    with h5py.File(path, "r") as f:
        w = dset(f, "images")
    n = len(w)
    flat = w.reshape(n, -1)
    ratio = np.abs(flat.sum(1)) / np.maximum(np.abs(flat).sum(1), 1e-12)
    txt = ("The lecture: first-layer kernels are templates of lines in various orientations, "
           "colours and shading. Here %d of %d kernels are contrast (edge or line) templates, "
           "their weights summing to under 30%% of their absolute sum"
           % (int(np.sum(ratio < 0.3)), n))
    if w.shape[1] == 3:
        sums = w.reshape(n, 3, -1).sum(2)
        opp = int(np.sum((sums.max(1) > 0) & (sums.min(1) < 0)))
        txt += ", and %d weigh the colour channels with opposite signs (colour templates)" % opp
    return txt + "."


KINDS = {
    "classify": classify, "shuffle": shuffle, "grid-occlude": grid_occlude,
    "silhouette": silhouette, "texture": texture,
    "occlude-strongest": occlude_strongest, "occlude-class": occlude_class,
    "saliency": saliency, "gradcam": gradcam, "patches": patches, "ascend-classes": ascend_classes,
    "mnist-occlude-prob": mnist_occlude_prob, "mnist-occlude-pct": mnist_occlude_pct,
    "mnist-topk": mnist_topk, "mnist-featuremap": mnist_featuremap, "mnist-pca": mnist_pca,
    "mnist-saliency": mnist_saliency, "mnist-ascend": mnist_ascend, "video": video,
    "pick-unit": pick_unit, "style": style, "ascend-units": ascend_units, "filters": filters, "pick-frame": pick_frame,
}


def main(argv):
    if len(argv) < 3 or argv[1] not in KINDS:
        die("usage: finding.py KIND FILE... (KIND: %s)" % ", ".join(sorted(KINDS)))
    try:
        line = KINDS[argv[1]](*argv[2:])
    except (OSError, KeyError, IndexError, ValueError) as e:
        die("%s %s: %s" % (argv[1], " ".join(argv[2:]), e))
    print(line.replace("'", ""))


if __name__ == "__main__":
    main(sys.argv)
