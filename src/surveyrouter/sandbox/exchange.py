"""One sandbox exchange: its registry state, gateway, attribute catalogue and keys, built once.

Both ways of running the sandbox build it here: standalone (``surveyrouter sandbox``, paths at
the server root) and embedded in ``surveyrouter serve`` (mounted under ``/sandbox/rex/``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from surveyrouter.domain.questions import QuestionLibrary
from surveyrouter.networks.rex.signing import KeyPair
from surveyrouter.sandbox.attributes import AttributeCatalogue, market_attributes
from surveyrouter.sandbox.evolution import MarketSimulation
from surveyrouter.sandbox.gateway import GatewaySimulator
from surveyrouter.sandbox.market_state import open_registry
from surveyrouter.sandbox.outcomes import SurveyEnding
from surveyrouter.sandbox.registry import RegistryState
from surveyrouter.sandbox.respondents import Respondent

Clock = Callable[[], datetime]

DEFAULT_OPPORTUNITIES = 2000
DEFAULT_SEED = 1


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    """How a sandbox exchange is set up.

    ``api_keys`` maps each partner access key to its secret: they sign registry and gateway API
    calls and entry links. ``redirect_keys`` sign what the sandbox sends back (returns and
    callbacks, REX §1.5). ``base_url`` is where the sandbox's own paths are reached from
    outside; every ``links.live`` points at ``{base_url}/start``.
    """

    api_keys: Mapping[str, str]
    redirect_keys: KeyPair
    base_url: str
    partner_return_url: str
    partner_callback_url: str | None = None
    seed: int = DEFAULT_SEED
    opportunities: int = DEFAULT_OPPORTUNITIES
    # Where the exchange's state lives between runs; None keeps it in memory only.
    state_path: Path | None = None
    # Test switches, off by default: no simulated market changes; every client survey ends
    # with this disposition.
    frozen: bool = False
    forced_outcome: SurveyEnding | None = None
    # A person plays the respondent: /start leads to a prescreen page (the questions targeting
    # could not decide) and a survey page whose buttons pick the ending, instead of the
    # simulated client survey (so ``forced_outcome`` does not apply to it).
    interactive: bool = False


@dataclass(slots=True)
class SandboxExchange:
    options: SandboxOptions
    registry: RegistryState
    gateway: GatewaySimulator
    attributes: AttributeCatalogue
    clock: Clock
    simulation: MarketSimulation
    rng: random.Random = field(default_factory=random.Random)

    def close(self) -> None:
        """Let go of the state file; call when the server stops."""
        self.registry.close()


def build_sandbox(
    options: SandboxOptions, library: QuestionLibrary, clock: Clock
) -> SandboxExchange:
    """A sandbox exchange: resumed from ``options.state_path`` when that file holds a market,
    else seeded with a synthetic market drawn from ``options.seed``.

    The market targets the question library's attributes (plus the catalogue's own), so users
    who answer our questions can qualify, and some opportunities need attributes no canonical
    question maps.
    """
    registry = open_registry(
        seed=options.seed,
        opportunities=options.opportunities,
        base_url=options.base_url,
        library=library,
        clock=clock,
        state_path=options.state_path,
    )
    return assemble_sandbox(options, registry, library, clock)


def assemble_sandbox(
    options: SandboxOptions, registry: RegistryState, library: QuestionLibrary, clock: Clock
) -> SandboxExchange:
    """A sandbox exchange around a registry that already holds its market (``build_sandbox``
    opens one; tests bring their own): the gateway, its attribute catalogue and the keys."""
    rng = random.Random(options.seed)
    attributes = AttributeCatalogue(library)
    journal = registry.journal
    gateway = GatewaySimulator(
        market=registry,
        entry_secrets=dict(options.api_keys),
        redirect_keys=options.redirect_keys,
        partner_return_url=options.partner_return_url,
        clock=clock,
        rng=rng,
        forced=options.forced_outcome,
        catalogue=attributes,
        keep=None if journal is None else journal.save_respondent,
    )
    if journal is not None:
        # Who entered which project survives a restart: a second entry stays a duplicate.
        for document in journal.load_respondents():
            respondent = Respondent.from_document(document)
            gateway.respondents[respondent.respondent_id] = respondent
    # The market the registry holds was drawn from the seed its state file names (a resumed
    # market keeps its own); new opportunities continue that market, collections included.
    market_seed = int(registry.meta("seed") or options.seed)
    simulation = MarketSimulation(
        registry,
        random.Random(f"{market_seed}:evolution"),
        clock,
        market_seed=market_seed,
        attributes=market_attributes(library),
        live_base_url=options.base_url,
        frozen=options.frozen,
    )
    return SandboxExchange(
        options=options,
        registry=registry,
        gateway=gateway,
        attributes=attributes,
        clock=clock,
        simulation=simulation,
        rng=rng,
    )
