"""Built-in attacks. Each is `Attack(eps=…, **options)(model, x, y) -> x_adv`."""

from ..attacks.pgd import FGSM, PGD, pgd_with_steps
from ..hookspecs import hookimpl


@hookimpl
def advq_register_attacks(register):
    register("pgd", PGD, description="L∞ PGD with random start; options: steps (10), step_size (eps/4)")
    register("pgd-10", pgd_with_steps(10), description="PGD, 10 steps of eps/4 (2/255 at 8/255), as in training")
    register("pgd-20", pgd_with_steps(20), description="PGD, 20 steps of eps/4")
    register("pgd-1000", pgd_with_steps(1000), description="PGD, 1000 steps of eps/4 (paper appendix F)")
    register("fgsm", FGSM, description="One signed-gradient step of size eps")
