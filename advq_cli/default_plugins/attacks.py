"""Built-in attacks. Each is `Attack(eps=…, **options)(model, x, y) -> x_adv`."""

from pathlib import Path

from ..attacks.autoattack import AutoAttack, autoattack_apgd_ce_t
from ..attacks.pgd import FGSM, PGD, pgd_with_steps
from ..attacks.rays import RayS
from ..attacks.square import Square
from ..attacks.transfer import Transfer
from ..checkpoint import check_fingerprint, model_from_checkpoint, read_checkpoint
from ..errors import AdvqError
from ..hookspecs import hookimpl


def transfer_from_checkpoint(
    eps: float, surrogate: str | Path | None = None, steps: int = 10, step_size: float | None = None,
    random_start: bool = True, dataset_fingerprint: str | None = None,
) -> Transfer:
    """The transfer attack on the surrogate checkpoint `--surrogate` names; one trained on other data is refused."""
    if surrogate is None:
        raise AdvqError("The transfer attack needs a surrogate model: pass --surrogate CHECKPOINT.")
    path = Path(surrogate)
    payload = read_checkpoint(path)
    if dataset_fingerprint is not None:
        check_fingerprint(payload, dataset_fingerprint, None, f"Surrogate {path}")
    return Transfer(eps, model_from_checkpoint(payload, path), steps, step_size, random_start)


@hookimpl
def advq_register_attacks(register):
    register("pgd", PGD, description="L∞ PGD; options: steps (10), step_size (eps/4), random_start (advq evaluate: "
             "--random-start; from x by default)")
    register("pgd-10", pgd_with_steps(10), description="PGD, 10 steps of eps/4 (2/255 at 8/255), the paper's test PGD")
    register("pgd-20", pgd_with_steps(20), description="PGD, 20 steps of eps/4")
    register("pgd-1000", pgd_with_steps(1000), description="PGD, 1000 steps of eps/4 (paper appendix F)")
    register("fgsm", FGSM, description="One signed-gradient step of size eps")
    register(
        "autoattack", AutoAttack,
        description="Standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square) from its reference implementation "
        "(pip install pyautoattack); options: version, attacks, seed",
    )
    register(
        "autoattack-apgd-ce-t", autoattack_apgd_ce_t,
        description="AutoAttack's APGD-CE and APGD-T only (version custom): what the paper's authors ran, "
        "their mode 'fast'; option: seed",
    )
    register(
        "square", Square,
        description="Square Attack, score-based black box, 1 restart; options: n_queries (5000), p_init (0.8)",
    )
    register(
        "rays", RayS,
        description="RayS, decision-based black box; options: n_queries (10000), early_stop, tol (1e-4), "
        "lin_steps (10)",
    )
    register(
        "transfer", transfer_from_checkpoint,
        description="PGD on a surrogate checkpoint, applied to the target; options: surrogate (or --surrogate), "
        "steps (10), step_size",
    )
