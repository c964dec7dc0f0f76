"""Validation metrics as the competition scored them, and threshold tuning.

Micro-F1 over all labels (2·TP / (2·TP + FP + FN), summed over every image and label), as
torchmetrics computes it, plus micro-F1 per task. Thresholds are tuned on validation after
training: first the best single (global) threshold, then one per label by coordinate ascent on
the overall micro-F1 (each label's threshold in turn is the one that maximises micro-F1 with
the others fixed; Fan & Lin, "A Study on Threshold Selection for Multi-label
Classification"). A label with fewer than MIN_SUPPORT positive validation images keeps the
global threshold: too few examples to tune on.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.classification import multilabel_f1_score

GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
MIN_SUPPORT = 5  # positive validation images a label needs for its own threshold
PASSES = 2


def micro_f1(probs: np.ndarray, targets: np.ndarray, thresholds) -> float:
    """Micro-F1 of `probs >= thresholds` (a number or one per label) against 0/1 targets."""
    predicted = probs >= np.asarray(thresholds, dtype=probs.dtype)
    truth = targets > 0.5
    tp = np.logical_and(predicted, truth).sum()
    denominator = predicted.sum() + truth.sum()
    return float(2 * tp / denominator) if denominator else 0.0


def torchmetrics_micro_f1(probs: np.ndarray, targets: np.ndarray, thresholds) -> float:
    """The same figure through torchmetrics (what training logs), for reports and tests."""
    if probs.shape[1] == 0 or probs.shape[0] == 0:
        return 0.0
    predicted = torch.from_numpy(probs >= np.asarray(thresholds, dtype=probs.dtype)).float()
    score = multilabel_f1_score(
        predicted,
        torch.from_numpy(targets > 0.5).int(),
        num_labels=probs.shape[1],
        average="micro",
        threshold=0.5,
        zero_division=0,
    )
    return float(score)


def tune_global(probs: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """The single threshold (grid 0.05..0.95) that maximises validation micro-F1."""
    scores = [micro_f1(probs, targets, t) for t in GRID]
    best = int(np.argmax(scores))
    return float(GRID[best]), float(scores[best])


def tune_per_label(
    probs: np.ndarray, targets: np.ndarray, global_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, tuned mask): one threshold per label by coordinate ascent on micro-F1;
    labels under MIN_SUPPORT positives keep `global_threshold`."""
    truth = targets > 0.5
    n_labels = probs.shape[1]
    # Per label and grid value: TP and predicted-positive counts (FN follows from support).
    predicted = probs[:, :, None] >= GRID[None, None, :]  # images x labels x grid
    tp = np.logical_and(predicted, truth[:, :, None]).sum(axis=0)  # labels x grid
    positive = predicted.sum(axis=0)
    support = truth.sum(axis=0)
    tuned = support >= MIN_SUPPORT
    choice = np.full(n_labels, int(np.argmin(np.abs(GRID - global_threshold))))
    for _ in range(PASSES):
        for label in np.flatnonzero(tuned):
            rows = np.arange(n_labels)
            total_tp = tp[rows, choice].sum() - tp[label, choice[label]]
            total_pos = positive[rows, choice].sum() - positive[label, choice[label]]
            f1 = 2 * (total_tp + tp[label]) / (total_pos + positive[label] + support.sum())
            choice[label] = int(np.argmax(f1))
    thresholds = GRID[choice].astype(np.float32)
    thresholds[~tuned] = global_threshold
    return thresholds, tuned


def per_task_f1(
    probs: np.ndarray, targets: np.ndarray, thresholds, tasks: list[str]
) -> dict[str, float]:
    """Micro-F1 over each task's labels; `tasks[i]` is the task of column i."""
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=probs.dtype), probs.shape[1:])
    names = np.asarray(tasks)
    return {
        task: round(
            micro_f1(probs[:, names == task], targets[:, names == task], thresholds[names == task]),
            4,
        )
        for task in sorted(set(tasks))
    }


def evaluate(probs: np.ndarray, targets: np.ndarray, tasks: list[str]) -> tuple[dict, np.ndarray]:
    """Tune the thresholds and report: micro-F1 at 0.5, at the best global threshold and with
    per-label thresholds (torchmetrics), and per task with the per-label thresholds. Returns
    (metrics, per-label thresholds)."""
    global_threshold, _ = tune_global(probs, targets)
    thresholds, tuned = tune_per_label(probs, targets, global_threshold)
    metrics = {
        "val_micro_f1": round(torchmetrics_micro_f1(probs, targets, thresholds), 4),
        "val_micro_f1_at_0.5": round(torchmetrics_micro_f1(probs, targets, 0.5), 4),
        "val_micro_f1_global": round(torchmetrics_micro_f1(probs, targets, global_threshold), 4),
        "global_threshold": global_threshold,
        "labels_with_own_threshold": int(tuned.sum()),
        "val_micro_f1_by_task": per_task_f1(probs, targets, thresholds, tasks),
    }
    return metrics, thresholds
