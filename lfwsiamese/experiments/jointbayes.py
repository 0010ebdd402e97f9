"""Joint Bayesian face verification (Chen, Cao, Wang, Wen and Sun, ECCV 2012), scikit-learn style.

A face is x = mu + eps, mu ~ N(0, S_mu) the identity and eps ~ N(0, S_eps) the within-person variation. EM over
the training people estimates both covariances (exact posterior moments, grouped by images per person); a pair is
scored by the log-likelihood ratio of "same identity" against "different identities", up to a constant.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg


class JointBayes:
    """fit(X, labels) on training people; score(a, b) for pairs of rows; higher means more likely the same."""

    def __init__(self, n_iter: int = 50, tol: float = 1e-5, reg: float = 1e-6) -> None:
        self.n_iter, self.tol, self.reg = n_iter, tol, reg

    def fit(self, X: np.ndarray, labels: np.ndarray) -> "JointBayes":
        X = np.asarray(X, np.float64)
        _, inv = np.unique(np.asarray(labels), return_inverse=True)
        n_cls, d = int(inv.max()) + 1, X.shape[1]
        self.mean_ = X.mean(0)
        X = X - self.mean_
        sums = np.zeros((n_cls, d))
        np.add.at(sums, inv, X)
        counts = np.bincount(inv, minlength=n_cls)
        means = sums / counts[:, None]
        multi = counts[inv] > 1
        resid = X[multi] - means[inv[multi]]
        eye = np.eye(d) * self.reg
        s_eps = resid.T @ resid / max(len(resid), 1) + eye
        s_mu = np.cov(means.T, bias=True) + eye
        self.n_iter_ = 0
        for it in range(self.n_iter):
            # E-step: the posterior of a person's mu given m images is N(C_m F sum x, C_m), C_m = (S_mu^-1 + m F)^-1.
            # With S_eps = L L' and L^-1 S_mu L^-T = V D V', T = L V gives C_m = T diag(1 / (1/D + m)) T' and
            # C_m F = T diag(.) T^-1: one Cholesky and one eigh per iteration, whatever the image counts.
            low = linalg.cholesky(s_eps, lower=True, check_finite=False)
            li = linalg.solve_triangular(low, np.eye(d), lower=True, check_finite=False)
            dd, v = linalg.eigh(li @ s_mu @ li.T, check_finite=False)
            t = low @ v
            t_inv = v.T @ li
            c = 1.0 / (1.0 / np.maximum(dd, 1e-12)[None, :] + counts[:, None])  # (people, d)
            mu = ((sums @ t_inv.T) * c) @ t.T
            r = X - mu[inv]
            new_mu = (mu.T @ mu + (t * c.sum(0)) @ t.T) / n_cls + eye
            new_eps = (r.T @ r + (t * (counts[:, None] * c).sum(0)) @ t.T) / len(X) + eye
            change = (np.abs(new_mu - s_mu).max() + np.abs(new_eps - s_eps).max()) / (np.abs(s_mu).max() + np.abs(s_eps).max())
            s_mu, s_eps = new_mu, new_eps
            self.n_iter_ = it + 1
            if change < self.tol:
                break
        self.s_mu_, self.s_eps_ = s_mu, s_eps
        # log p(x1, x2 | same) - log p(x1, x2 | different) = x1'A x1 + x2'A x2 - 2 x1'G x2 + const
        tot = s_mu + s_eps
        inv_same = linalg.inv(np.block([[tot, s_mu], [s_mu, tot]]), check_finite=False)
        self.A_ = linalg.inv(tot, check_finite=False) - inv_same[:d, :d]
        self.G_ = inv_same[:d, d:]
        return self

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Log-likelihood ratio of each pair (row k of a with row k of b)."""
        a = np.asarray(a, np.float64) - self.mean_
        b = np.asarray(b, np.float64) - self.mean_
        return ((a @ self.A_) * a).sum(1) + ((b @ self.A_) * b).sum(1) - 2 * ((a @ self.G_) * b).sum(1)
