r"""Group Lasso over a spike-pattern dictionary, solved to a certified duality gap (numpy only).

Problem (MODELS.md §5; ``C`` outputs, ``C = 1`` is the plain Lasso), with an unpenalised bias
``b``:

.. math::
    \min_{Z \in \mathbb{R}^{p \times C},\, b}\;
    P(Z, b) = \tfrac12 \lVert D Z + \mathbf 1 b^\top - Y \rVert_F^2 + \lambda \sum_j \lVert Z_{j,:} \rVert_2 .

Minimising over ``b`` gives ``b = mean(Y - D Z)``, i.e. the same problem on the centred
``Dc = D - mean(D)`` and ``Yc = Y - mean(Y)`` without bias. Its Lagrange dual is

.. math::
    \max_\Theta\; G(\Theta) = \tfrac12 \lVert Y_c \rVert_F^2 - \tfrac12 \lVert Y_c - \Theta \rVert_F^2
    \quad\text{s.t.}\quad \max_j \lVert D_{c,j}^\top \Theta \rVert_2 \le \lambda .

For any ``Z`` the scaled residual ``Θ = R \min(1, λ / \max_j \lVert D_{c,j}^\top R \rVert_2)``,
``R = Y_c - D_c Z``, is dual feasible, and weak duality gives the certificate
``P(Z) - P^\star \le P(Z) - G(Θ) =: \text{gap}``.

Solvers (scikit-learn, well kept and compiled): for ``C = 1`` the Lasso homotopy (``LassoLars``,
LARS with the Lasso modification), which reaches the exact solution in finitely many steps, so
the gap is at rounding level; then, and for ``C > 1`` (``MultiTaskLasso`` = group Lasso over the
outputs), cyclic coordinate descent. Binary spike dictionaries have many near-collinear columns
(patterns differing in a few samples): first-order methods (FISTA) and coordinate descent alone
converge slowly there, which is why the exact homotopy goes first. scikit-learn's
own ``dual_gap_`` uses a ``1/(2n)`` scaling and a tolerance relative to ``‖y‖²``, so we do not
trust it: after every fit we build the dual point above ourselves, compute the gap, and refit
(warm start, ten times tighter tolerance) until our gap is below the target or the round limit
is hit; a result that misses the target says so (``certified = False``) and warns.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["LassoResult", "lambda_max", "center", "dual_point", "primal_objective", "dual_objective",
           "duality_gap", "group_lasso"]


@dataclass
class LassoResult:
    """Solution of :func:`group_lasso` with its certificate.

    Attributes:
        Z: ``(p, C)`` coefficients.
        b: ``(C,)`` bias.
        lam: The penalty ``λ`` used.
        theta: ``(n, C)`` the dual-feasible point the gap is computed from.
        primal: ``P(Z, b)``.
        dual: ``G(Θ)``.
        gap: ``primal - dual`` (absolute, ``>= 0`` up to rounding).
        certified: ``gap <= target``.
        target: The requested gap.
        rounds: Solver calls made.
        seconds: Wall time.
    """

    Z: np.ndarray
    b: np.ndarray
    lam: float
    theta: np.ndarray
    primal: float
    dual: float
    gap: float
    certified: bool
    target: float
    rounds: int
    seconds: float

    @property
    def support(self) -> np.ndarray:
        """Indices of the columns with a nonzero coefficient row."""
        return np.flatnonzero(np.any(self.Z != 0, axis=1))


def _as2d(Y: np.ndarray) -> np.ndarray:
    Y = np.asarray(Y, dtype=np.float64)
    return Y[:, None] if Y.ndim == 1 else Y


def center(D: np.ndarray, Y: np.ndarray) -> tuple:
    """``(Dc, Yc, d_mean, y_mean)``: column-centred dictionary and targets (float64)."""
    D = np.asarray(D, dtype=np.float64)
    Y = _as2d(Y)
    dm, ym = D.mean(axis=0), Y.mean(axis=0)
    return D - dm, Y - ym, dm, ym


def lambda_max(D: np.ndarray, Y: np.ndarray) -> float:
    """Smallest ``λ`` with the all-zero solution: ``max_j ‖Dc_jᵀ Yc‖₂``."""
    Dc, Yc, _, _ = center(D, Y)
    return float(np.sqrt(((Dc.T @ Yc) ** 2).sum(axis=1)).max())


def dual_point(Dc: np.ndarray, Yc: np.ndarray, Z: np.ndarray, lam: float) -> np.ndarray:
    """The dual-feasible residual scaling ``Θ = R min(1, λ / max_j ‖Dc_jᵀ R‖₂)``."""
    R = Yc - Dc @ Z
    m = float(np.sqrt(((Dc.T @ R) ** 2).sum(axis=1)).max()) if Dc.shape[1] else 0.0
    return R * (min(1.0, lam / m) if m > 0 else 1.0)


def primal_objective(Dc: np.ndarray, Yc: np.ndarray, Z: np.ndarray, lam: float) -> float:
    """``½‖Yc - Dc Z‖² + λ Σ_j ‖Z_j‖₂`` (centred problem: the bias is already optimal)."""
    R = Yc - Dc @ Z
    return float(0.5 * (R * R).sum() + lam * np.sqrt((Z * Z).sum(axis=1)).sum())


def dual_objective(Yc: np.ndarray, theta: np.ndarray) -> float:
    """``½‖Yc‖² - ½‖Yc - Θ‖²``."""
    return float(0.5 * (Yc * Yc).sum() - 0.5 * ((Yc - theta) ** 2).sum())


def duality_gap(Dc: np.ndarray, Yc: np.ndarray, Z: np.ndarray, lam: float) -> tuple:
    """``(gap, primal, dual, theta)`` of ``Z`` on the centred problem."""
    theta = dual_point(Dc, Yc, Z, lam)
    p, d = primal_objective(Dc, Yc, Z, lam), dual_objective(Yc, theta)
    return p - d, p, d, theta


def group_lasso(D: np.ndarray, Y: np.ndarray, lam: float, target_gap: float = 1e-7, max_rounds: int = 8,
                max_iter: int = 20000) -> LassoResult:
    """Solve the (group) Lasso with bias to a certified absolute duality gap.

    Args:
        D: ``(n, p)`` dictionary (binary spike patterns; any real matrix works).
        Y: ``(n,)`` or ``(n, C)`` targets.
        lam: Penalty ``λ > 0`` (same scale as the objective above; ``lambda_max`` gives the range).
        target_gap: Required absolute gap ``P - G``.
        max_rounds: Solver calls (each with a ten times smaller tolerance) before giving up.
        max_iter: Coordinate-descent sweeps per call.

    Returns:
        :class:`LassoResult`. When the target is missed, ``certified`` is ``False`` and a
        ``RuntimeWarning`` names the gap reached.

    Raises:
        ValueError: Bad shapes or ``lam <= 0``.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso, MultiTaskLasso

    t0 = time.perf_counter()
    Dc, Yc, dm, ym = center(D, Y)
    n, p = Dc.shape
    if Yc.shape[0] != n:
        raise ValueError(f"group_lasso: D has {n} rows but Y has {Yc.shape[0]}")
    if not lam > 0:
        raise ValueError(f"group_lasso: lambda must be > 0, got {lam}")
    C = Yc.shape[1]
    # sklearn: (1/(2n))||y - Xw||^2 + alpha * penalty  ->  alpha = lam / n (same minimiser)
    # its tolerance is relative to ||y||^2 / n: aim at our absolute target from the start
    tol = max(target_gap / max(float((Yc * Yc).sum()), 1e-300), 1e-16)
    kw = dict(alpha=lam / n, fit_intercept=False, tol=tol, max_iter=max_iter, warm_start=True)
    model = Lasso(selection="cyclic", **kw) if C == 1 else MultiTaskLasso(selection="cyclic", **kw)
    Z = np.zeros((p, C))
    rounds = 0
    gap, prim, dual, theta = duality_gap(Dc, Yc, Z, lam)
    if C == 1 and gap > target_gap:
        # one output: the Lasso homotopy (LARS) reaches the exact solution in finitely many steps
        from sklearn.linear_model import LassoLars

        rounds += 1
        lars = LassoLars(alpha=lam / n, fit_intercept=False, max_iter=max(20 * p, 1000), eps=np.finfo(float).eps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lars.fit(Dc, Yc[:, 0])
        Zl = np.asarray(lars.coef_, dtype=np.float64).reshape(p, 1)
        gl = duality_gap(Dc, Yc, Zl, lam)
        if gl[0] < gap:
            Z, (gap, prim, dual, theta) = Zl, gl
            model.coef_ = Z[:, 0].copy()  # warm start for the coordinate-descent polish below
    while gap > target_gap and rounds < max_rounds:
        rounds += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # we certify ourselves below
            model.fit(Dc, Yc[:, 0] if C == 1 else Yc)
        coef = np.asarray(model.coef_, dtype=np.float64)
        Z = coef[:, None] if C == 1 else coef.T.copy()
        gap, prim, dual, theta = duality_gap(Dc, Yc, Z, lam)
        model.set_params(tol=max(model.tol * 0.1, 1e-16))
    b = ym - dm @ Z
    certified = bool(gap <= target_gap)
    if not certified:
        warnings.warn(f"group_lasso: duality gap {gap:.3g} above the target {target_gap:.3g} after {rounds} "
                      f"solver rounds (n={n}, p={p}, C={C}, lambda={lam:.4g})", RuntimeWarning, stacklevel=2)
    return LassoResult(Z=Z, b=b, lam=float(lam), theta=theta, primal=prim, dual=dual, gap=float(gap),
                       certified=certified, target=float(target_gap), rounds=rounds,
                       seconds=time.perf_counter() - t0)
