"""Everything that can reject a run's input, checked before anything runs or is written.

`replay` and `config validate` both call `prepare_scenario`, so a file `config validate` calls valid is one
`replay` will run, and a file it rejects is rejected with the same error lines `replay` prints. Each check is
one that would otherwise fail later in a run: the scenario's `config` overlay, the instruments file, the
simulated underlyings, the orders' and events' instruments, the learners a replay loads, and the draws of
`random` events on the run's seed.
"""

from __future__ import annotations

from pathlib import Path

from imperium_desk.config import Config, ConfigError, merged_config
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError
from imperium_desk.feedback.learning.plugin import LearnerLoadError, load_factories
from imperium_desk.market.config import default_instruments_path
from imperium_desk.rng import RandomStreams
from imperium_desk.scenarios.runner import check_instruments
from imperium_desk.scenarios.spec import LoadedScenario
from imperium_desk.scenarios.timeline import expand_timeline


def load_catalog(config: Config) -> InstrumentCatalog:
    """The instruments file the config names (the shipped one by default)."""
    path = config.market.instruments or default_instruments_path()
    try:
        return InstrumentCatalog.load(Path(path))
    except InstrumentError as exc:
        raise ConfigError([f"market.instruments: {exc}"]) from None


def prepare_config(config: Config) -> InstrumentCatalog:
    """The catalog of a config that can run: its instruments file loads and names every simulated underlying,
    and the learners it enables are installed. Raises ConfigError (one line per problem) otherwise."""
    catalog = _catalog_of_simulated(config)
    _check_learners(config)
    return catalog


def _catalog_of_simulated(config: Config) -> InstrumentCatalog:
    catalog = load_catalog(config)
    for name in config.market.underlyings:
        try:
            catalog.underlying(name)
        except InstrumentError as exc:
            raise ConfigError([f"market.underlyings: {exc}"]) from None
    return catalog


def _check_learners(config: Config) -> None:
    if not config.feedback.learning.enabled:
        return
    try:
        load_factories(config.feedback.learning)
    except LearnerLoadError as exc:
        raise ConfigError(exc.errors) from None


def prepare_scenario(
    scenario: LoadedScenario, config: Config, *, seed: int | None = None
) -> tuple[Config, InstrumentCatalog]:
    """The config a replay of `scenario` runs on (`config` with the scenario's `config` laid over it) and its
    catalog, once every check has passed; raises ConfigError naming the file and field otherwise.

    `seed` is the run's seed (default: the scenario's): `random` events are drawn on it as the run draws them,
    so a template no draw satisfies is an input error here, not a failure mid-run.
    """
    spec = scenario.spec
    effective = merged_config(config, spec.config, f"{scenario.path}: config") if spec.config else config
    catalog = _catalog_of_simulated(effective)
    problems = check_instruments(spec, catalog, list(effective.market.underlyings))
    if problems:
        raise ConfigError([f"{scenario.path}: {p}" for p in problems])
    _check_learners(effective)
    if spec.events:
        # A fresh stream of the run's name and seed: the same draws the run makes, and the run's own untouched.
        stream = RandomStreams(spec.seed if seed is None else seed).stream("scenario", "random")
        try:
            expand_timeline(spec, stream, scenario.path.parent)
        except ValueError as exc:
            raise ConfigError([f"{scenario.path}: events: {exc}"]) from None
    return effective, catalog
