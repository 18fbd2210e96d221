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
        description="GAIRAT: PGD-AT weighted by PGD iterations to fool (Zhang et al. 2021); option: lambda_ (--lambda, 0)",
    )
    register("standard", Standard, description="Standard training on clean inputs (no attack)")
