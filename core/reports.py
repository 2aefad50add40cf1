"""A feature's report: everything ``events export`` and the state files show, read from
the store's queries (no library object needed, so a notifier can build it too)."""

from __future__ import annotations

from . import validate as v
from .models import FeatureReport
from .store_service import Store


def build_report(store: Store, spec_id: str, events: int = 20) -> FeatureReport:
    """The report of a registered feature (NotFoundError, worded by the domain, if not)."""
    feature = store.get_feature(spec_id)
    if feature is None:
        from .domain import feature_not_found

        raise feature_not_found(spec_id)
    return FeatureReport(
        feature=feature,
        agents=store.list_agents(spec_id),
        status=store.feature_status(spec_id),
        tasks=store.task_states(spec_id),
        events=store.recent_events(v.check_limit(events), spec_id),
        conflicts=store.list_conflicts(spec_id, include_resolved=False),
        blockers=store.list_blockers(spec_id, include_resolved=False),
        tests=store.list_test_results(spec_id, 10),
        pull_requests=store.list_pull_requests(spec_id),
    )
