"""Mini-batches and a small training loop, as the course describes them.

    for xb, yb in minibatches(X, Y, 32, rng): ...      # shuffle, partition, last batch smaller
    history = fit(model, optimizer, X, Y, epochs=5, batch_size=32, X_val=Xv, Y_val=Yv)
"""
import sys
import time

import numpy as np

from .nn import CrossEntropyLoss
from .optim.lr_scheduler import CyclicLR, OneCycleLR, ReduceLROnPlateau


def minibatches(X, Y, batch_size, rng=None, shuffle=True):
    """Yield (X[b], Y[b]) for a shuffled partition of the rows into batches of
    batch_size; the last batch holds the remainder (smaller, never dropped)."""
    if batch_size < 1:
        raise ValueError(f"minibatches: batch_size must be >= 1, got {batch_size}")
    if len(X) != len(Y):
        raise ValueError(f"minibatches: X has {len(X)} rows but Y has {len(Y)}")
    order = (np.random.default_rng() if rng is None else rng).permutation(len(X)) if shuffle else np.arange(len(X))
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], Y[idx]


def accuracy(model, X, Y, batch_size=256):
    """Fraction of rows whose arg-max logit is the label (model in eval mode)."""
    training = model.training
    model.eval()
    correct = sum(int((model(xb).argmax(axis=1) == yb).sum())
                  for xb, yb in minibatches(X, Y, batch_size, shuffle=False))
    model.train(training)
    return correct / len(X)


def fit(model, optimizer, X, Y, epochs=1, batch_size=32, X_val=None, Y_val=None, rng=None,
        verbose=True, out=sys.stdout, scheduler=None):
    """Train a classifier with softmax cross-entropy; returns per-epoch history
    (loss, train accuracy, validation accuracy, samples/s, the first group's
    lr). With verbose, one progress line per epoch is redrawn as batches go by.
    scheduler (fastnn.optim.lr_scheduler) steps once after each epoch;
    ReduceLROnPlateau is given the epoch's training loss, and OneCycleLR and
    CyclicLR, schedules over batches, step after each batch (make OneCycleLR
    with epochs and steps_per_epoch = ceil(len(X) / batch_size))."""
    loss_fn = CrossEntropyLoss()
    rng = np.random.default_rng(0) if rng is None else rng
    live = verbose and getattr(out, "isatty", lambda: False)()     # redraw only on a terminal
    per_batch = isinstance(scheduler, (OneCycleLR, CyclicLR))
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        t0, seen, total_loss, correct = time.perf_counter(), 0, 0.0, 0
        nb = (len(X) + batch_size - 1) // batch_size
        for b, (xb, yb) in enumerate(minibatches(X, Y, batch_size, rng), 1):
            logits = model(xb)
            loss = loss_fn(logits, yb)
            model.backward(loss_fn.backward())
            optimizer.step()
            optimizer.zero_grad()
            if per_batch:
                scheduler.step()
            seen += len(xb)
            total_loss += loss * len(xb)
            correct += int((logits.argmax(axis=1) == yb).sum())
            if live:
                rate = seen / (time.perf_counter() - t0)
                bar = "#" * (20 * b // nb)
                out.write(f"\repoch {epoch}/{epochs} [{bar:<20}] loss {total_loss / seen:.4f} "
                          f"acc {correct / seen:.3f} {rate:,.0f} samples/s")
                out.flush()
        entry = dict(epoch=epoch, loss=total_loss / seen, train_acc=correct / seen,
                     samples_per_s=seen / (time.perf_counter() - t0), lr=optimizer.param_groups[0]["lr"])
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(entry["loss"])
        elif scheduler is not None and not per_batch:
            scheduler.step()
        if X_val is not None:
            entry["val_acc"] = accuracy(model, X_val, Y_val)
        history.append(entry)
        if verbose:
            val = f"  val acc {entry['val_acc']:.3f}" if X_val is not None else ""
            out.write(f"\repoch {epoch}/{epochs} loss {entry['loss']:.4f} acc {entry['train_acc']:.3f} "
                      f"{entry['samples_per_s']:,.0f} samples/s{val}\n")
    return history
