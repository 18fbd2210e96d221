"""Built-in training methods. Each is `Method(threat, **options)(model, x, y) -> MethodOutput`."""

from ..hookspecs import hookimpl
from ..methods.gairat import Gairat
from ..methods.mart import Mart
from ..methods.pgd_at import PGDAT, Standard
from ..methods.trades import Trades


@hookimpl
def advq_register_methods(register):
    register("pgd-at", PGDAT, description="PGD adversarial training, CE on PGD examples (Madry et al. 2018)")
    register(
        "trades",
        Trades,
        description="TRADES: clean CE + beta·KL(f(x)‖f(x')), x' from KL-PGD (Zhang et al. 2019); option: beta (6)",
    )
    register(
        "mart",
        Mart,
        description="MART: boosted CE on PGD examples + beta·KL·(1−f_y(x)) (Wang et al. 2020); option: beta (6)",
    )
    register(
        "gairat",
        Gairat,
        description=(
            "GAIRAT: PGD-AT weighted by the PGD iterations still correct (Zhang et al. 2021), after plain PGD-AT "
            "until the begin epoch; options: lambda_ (--lambda, 0), begin_epoch, lambda_schedule, kappa (all, leading)"
        ),
    )
    register("standard", Standard, description="Standard training on clean inputs (no attack)")
