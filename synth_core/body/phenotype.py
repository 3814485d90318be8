"""Human-readable body descriptions <-> betas, for the default body.

The default body stores polynomial maps between anny's phenotype parameters (each in
[0, 1]: gender 0 = male, 1 = female; age in anny units, see ``age_years``; muscle;
weight; height; proportions) and its betas. :meth:`PhenotypeSpace.describe` turns words
and metres into betas, e.g. ``describe(gender="female", height_m=1.60, weight="heavy")``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from synth_core.body.model import BodyModel
from synth_core.errors import BodyInputError

GENDERS = {"male": 0.0, "neutral": 0.5, "female": 1.0}
LEVELS = {"very low": 0.0, "low": 0.2, "light": 0.2, "thin": 0.15, "average": 0.5,
          "high": 0.8, "heavy": 0.85, "very high": 1.0}


@dataclass(frozen=True)
class Phenotype:
    """anny phenotype parameters, each in [0, 1] (age in anny units; 0.8 ~ 40 years)."""

    gender: float = 0.5
    age: float = 0.8
    muscle: float = 0.5
    weight: float = 0.5
    height: float = 0.5
    proportions: float = 0.5

    def as_array(self) -> np.ndarray:
        return np.array(list(asdict(self).values()), dtype=np.float64)


def polynomial_features(x: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """Monomials of the inputs. x: N x D, exponents: M x D (integers) -> N x M."""
    return np.prod(x[:, None, :] ** exponents[None].astype(np.int64), axis=2)


class PhenotypeSpace:
    """The phenotype <-> betas maps stored in a model file (the default body has them)."""

    def __init__(self, model: BodyModel) -> None:
        extras = model.data.extras
        needed = ("phenotype_labels", "phenotype_to_betas_exponents", "phenotype_to_betas_coef",
                  "betas_to_phenotype_exponents", "betas_to_phenotype_coef", "age_years", "age_anny")
        missing = [key for key in needed if key not in extras]
        if missing:
            raise BodyInputError(f"{model.data.source} has no phenotype mapping (missing {missing}); "
                                 "only the default body can be described by phenotype")
        labels = tuple(str(label) for label in extras["phenotype_labels"])
        if labels != tuple(Phenotype.__dataclass_fields__):
            raise BodyInputError(f"{model.data.source}: unexpected phenotype labels {labels}")
        self.model = model
        self._p2b = (extras["phenotype_to_betas_exponents"], extras["phenotype_to_betas_coef"])
        self._b2p = (extras["betas_to_phenotype_exponents"], extras["betas_to_phenotype_coef"])
        self._age_years, self._age_anny = extras["age_years"], extras["age_anny"]

    def betas(self, phenotype: Phenotype) -> np.ndarray:
        """Betas (K) of a phenotype."""
        values = phenotype.as_array()
        if np.any(~np.isfinite(values)) or np.any(values < 0.0) or np.any(values > 1.0):
            raise BodyInputError(f"phenotype values must lie in [0, 1], got {phenotype}")
        exponents, coef = self._p2b
        return (polynomial_features(values[None], exponents) @ coef)[0]

    def phenotype(self, betas: np.ndarray) -> Phenotype:
        """Approximate phenotype of betas (uses the first betas the map was fitted on)."""
        exponents, coef = self._b2p
        betas = np.zeros(exponents.shape[1]) if betas is None else np.asarray(betas, dtype=np.float64)
        padded = np.zeros(exponents.shape[1])
        padded[:min(len(betas), len(padded))] = betas[:len(padded)]
        values = np.clip((polynomial_features(padded[None], exponents) @ coef)[0], 0.0, 1.0)
        return Phenotype(*values)

    def age_parameter(self, years: float) -> float:
        """anny's age parameter for an age in years (adults only)."""
        if not self._age_years[0] <= years <= self._age_years[-1]:
            raise BodyInputError(f"age {years} years is outside the default body's adult range "
                                 f"{self._age_years[0]:.0f}-{self._age_years[-1]:.0f}")
        return float(np.interp(years, self._age_years, self._age_anny))

    def height_m(self, betas) -> float:
        """Standing height (top of head to sole) of the rest-pose body, metres."""
        shaped = self.model(betas=betas).shaped_vertices[0]
        return float(shaped[:, 1].max() - shaped[:, 1].min())

    def describe(self, gender: str = "neutral", height_m: float | None = None,
                 weight: str | float = "average", muscle: str | float = "average",
                 age_years: float = 35.0, proportions: float = 0.5) -> np.ndarray:
        """Betas for a description such as ``gender="female", height_m=1.60, weight="heavy"``.

        ``weight`` and ``muscle`` take a value in [0, 1] or a word (low, average, heavy, ...).
        ``height_m`` is solved for exactly (to 1 mm) by bisection on the height parameter.
        """
        if gender not in GENDERS:
            raise BodyInputError(f"unknown gender {gender!r}; expected one of {sorted(GENDERS)}")
        base = Phenotype(gender=GENDERS[gender], age=self.age_parameter(age_years),
                         muscle=_level(muscle, "muscle"), weight=_level(weight, "weight"),
                         proportions=float(proportions))
        if height_m is None:
            return self.betas(base)
        if not np.isfinite(height_m):
            raise BodyInputError(f"height must be a finite number of metres, got {height_m}")

        def height_of(h: float) -> float:
            return self.height_m(self.betas(Phenotype(**{**asdict(base), "height": h})))

        low, high = height_of(0.0), height_of(1.0)
        if not low <= height_m <= high:
            raise BodyInputError(f"height {height_m:.2f} m is outside what this description reaches "
                                 f"({low:.2f}-{high:.2f} m)")
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if height_of(mid) < height_m else (lo, mid)
        return self.betas(Phenotype(**{**asdict(base), "height": 0.5 * (lo + hi)}))


def _level(value: str | float, name: str) -> float:
    if isinstance(value, str):
        if value not in LEVELS:
            raise BodyInputError(f"unknown {name} level {value!r}; use a number in [0, 1] or one of {sorted(LEVELS)}")
        return LEVELS[value]
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise BodyInputError(f"{name} must lie in [0, 1], got {value}")
    return value
