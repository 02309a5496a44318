"""Filters: the expression parser, evaluation on a hand-built group with known answers, and filtered requests
against a trained SIMS campaign (backfill, related items, ranking, batch)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from recsmith.campaigns.batch import create_batch_inference_job
from recsmith.campaigns.campaigns import create_campaign
from recsmith.campaigns.filters import (
    ALLOW_ALL,
    FilterDecision,
    FilterEvaluator,
    apply_filter,
    create_filter,
    parse_filter_expression,
    parse_filter_value,
    warm_filters,
)
from recsmith.campaigns.holder import ModelHolder
from recsmith.campaigns.recommend import get_personalized_ranking, get_recommendations
from recsmith.catalog import ResourceType, Status
from recsmith.data.imports import read_current
from recsmith.errors import FilterExpressionError, InvalidInputError, ResourceNotFoundError
from recsmith.events.tracker import create_event_tracker, put_events
from recsmith.platform import Platform
from recsmith.settings import Settings
from recsmith.workflow import ImportConfig, import_dataset

if TYPE_CHECKING:
    from conftest import Trained


# ------------------------------------------------------------------ parser
def test_parse_each_construct() -> None:
    parsed = parse_filter_expression(
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase", "*") '
        "| INCLUDE ItemID WHERE Items.GENRES IN ($GENRE) AND Items.PRICE >= 3.5 OR Items.GENRES NOT IN "
        '(CurrentItem.GENRES) IF CurrentUser.AGE_BAND IN ("18-24") AND CurrentUser.AGE <= $MAX_AGE'
    )
    exclude, include = parsed.expressions
    assert exclude.action == "EXCLUDE" and exclude.dataset == "Interactions"
    (only,) = exclude.where[0]
    assert (only.field, only.op, only.value.values) == ("EVENT_TYPE", "IN", ("purchase", "*"))
    assert include.action == "INCLUDE" and include.dataset == "Items"
    first, second = include.where
    assert [(c.field, c.op, c.value.kind) for c in first] == [("GENRES", "IN", "param"), ("PRICE", ">=", "number")]
    assert [(c.field, c.op, c.value.kind, c.value.name) for c in second] == [
        ("GENRES", "NOT IN", "current_item", "GENRES")
    ]
    assert [(c.field, c.op) for c in include.condition_if] == [("AGE_BAND", "IN"), ("AGE", "<=")]
    assert parsed.params == ("GENRE", "MAX_AGE")
    for op in ("=", "!=", "<", "<=", ">", ">="):
        (cond,) = parse_filter_expression(f"exclude itemid where items.PRICE {op} $P").expressions[0].where[0]
        assert cond.op == op and cond.value.name == "P"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", r"position 0: expected INCLUDE or EXCLUDE, got end of expression"),
        ('REMOVE ItemID WHERE Items.A IN ("x")', r"position 0: expected INCLUDE or EXCLUDE, got 'REMOVE'"),
        ('INCLUDE UserID WHERE Items.A IN ("x")', r"position 8: expected ItemID, got 'UserID'"),
        ('INCLUDE ItemID Items.A IN ("x")', r"position 15: expected WHERE, got 'Items'"),
        ('INCLUDE ItemID WHERE Actions.A IN ("x")', r"position 21: expected Items or Interactions"),
        ('INCLUDE ItemID WHERE Items.A IN "x"', r"position 32: expected '\(', got '\"x\"'"),
        ('INCLUDE ItemID WHERE Items.A IN ("x"', r"position 36: expected '\)', got end of expression"),
        ("INCLUDE ItemID WHERE Items.A IN (x)", r"position 33: expected a quoted value"),
        ('INCLUDE ItemID WHERE Items.A LIKE ("x")', r"position 29: expected IN, NOT IN, =, !=, <, <=, > or >="),
        ('INCLUDE ItemID WHERE Items.A > "x"', r"position 31: expected a number, \$PARAM or CurrentItem"),
        (
            'INCLUDE ItemID WHERE Items.A IN ("x") AND Interactions.EVENT_TYPE IN ("a")',
            r"position 42: expected Items \(datasets cannot be mixed",
        ),
        ('EXCLUDE ItemID WHERE Interactions.ITEM IN ("a")', r"position 34: expected EVENT_TYPE, got 'ITEM'"),
        ('INCLUDE ItemID WHERE Items.A IN ("x") IF Items.B IN ("y")', r"position 41: expected CurrentUser"),
        ('INCLUDE ItemID WHERE Items.A IN ("x") |', r"position 39: expected INCLUDE or EXCLUDE"),
        ('INCLUDE ItemID WHERE Items.A IN ("x") ("y")', r"position 38: expected AND, OR, IF, '\|' or end"),
        ('INCLUDE ItemID WHERE Items.A IN ("x") ; DROP', r"position 38: unexpected character ';'"),
    ],
)
def test_syntax_errors_name_position_and_expected_token(expression: str, message: str) -> None:
    with pytest.raises(FilterExpressionError, match=message):
        parse_filter_expression(expression)


def test_filter_values_format() -> None:
    assert parse_filter_value("G", '"comedy","drama"') == ("comedy", "drama")
    assert parse_filter_value("G", ' "a b" , "c" ') == ("a b", "c")
    assert parse_filter_value("N", "42") == ("42",)
    with pytest.raises(InvalidInputError, match=r"filterValues\['G'\].*double-quoted"):
        parse_filter_value("G", "comedy")
    with pytest.raises(InvalidInputError, match=r"filterValues\['G'\]: position 9: expected a double-quoted"):
        parse_filter_value("G", '"comedy",drama')


# ------------------------------------------------------- hand-built group
# items: genres (multi-valued) and price; users: age band; history: bulk interactions + PutEvents
ITEMS = [("i1", "comedy", 5.0), ("i2", "drama|comedy", 15.0), ("i3", "horror", 25.0), ("i4", "drama", 8.0),
         ("i5", None, 30.0)]  # fmt: skip
USERS = [("u1", "18-24"), ("u2", "35-44")]
INTERACTIONS = [("u1", "i1", "click"), ("u1", "i2", "purchase"), ("u2", "i3", "purchase"), ("u2", "i4", "click")]


def _schema(name: str, fields: list[dict[str, object]]) -> str:
    return json.dumps({"type": "record", "name": name, "namespace": "x", "fields": fields, "version": "1.0"})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("tiny")
    platform = Platform(Settings(home=root / "home"))
    files = {
        "INTERACTIONS": (
            pd.DataFrame(
                [(u, i, 1_700_000_000 + k, e) for k, (u, i, e) in enumerate(INTERACTIONS)],
                columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"],
            ),
            [
                {"name": "USER_ID", "type": "string"},
                {"name": "ITEM_ID", "type": "string"},
                {"name": "TIMESTAMP", "type": "long"},
                {"name": "EVENT_TYPE", "type": "string"},
            ],
        ),
        "ITEMS": (
            pd.DataFrame(ITEMS, columns=["ITEM_ID", "GENRES", "PRICE"]),
            [
                {"name": "ITEM_ID", "type": "string"},
                {"name": "GENRES", "type": ["null", "string"], "categorical": True},
                {"name": "PRICE", "type": "float"},
            ],
        ),
        "USERS": (
            pd.DataFrame(USERS, columns=["USER_ID", "AGE_BAND"]),
            [{"name": "USER_ID", "type": "string"}, {"name": "AGE_BAND", "type": "string", "categorical": True}],
        ),
    }
    for kind, (frame, fields) in files.items():
        data, schema = root / f"{kind}.csv", root / f"{kind}.json"
        frame.to_csv(data, index=False)
        schema.write_text(_schema(kind.title(), fields))
        import_dataset(
            platform,
            ImportConfig(dataset_group="tiny", dataset_type=kind, data_location=str(data), schema_file=str(schema)),
        )
    tracker = create_event_tracker(platform, "tiny-tracker", "tiny")
    # a live purchase, in upper case: event types match ignoring case
    put_events(
        platform,
        tracker.attributes["trackingId"],
        "s1",
        [{"eventType": "PURCHASE", "itemId": "i3", "sentAt": 1_700_000_100.0}],
        user_id="u1",
    )
    yield platform
    platform.catalog.dispose()
    platform.events.dispose()


def _group(platform: Platform) -> str:
    return platform.catalog.get(ResourceType.DATASET_GROUP, "tiny").arn


_COUNTER = iter(range(10_000))


def _allowed(
    platform: Platform,
    expression: str,
    *,
    user: str | None = "u1",
    item: str | None = None,
    values: dict[str, str] | None = None,
) -> set[str]:
    resource = create_filter(platform, f"f{next(_COUNTER)}", "tiny", expression)
    decision = apply_filter(platform, resource.arn, values, _group(platform), user_id=user, current_item=item)
    return {i for i, *_ in ITEMS if decision.allows(i)}


ALL = {"i1", "i2", "i3", "i4", "i5"}


def test_exclude_purchased_uses_bulk_and_live_history(tiny: Platform) -> None:
    purchased = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    assert _allowed(tiny, purchased, user="u1") == ALL - {"i2", "i3"}  # i2 bulk, i3 PutEvents
    assert _allowed(tiny, purchased, user="u2") == ALL - {"i3"}
    assert _allowed(tiny, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', user="u1") == {"i4", "i5"}
    assert _allowed(tiny, purchased, user="nobody") == ALL
    not_purchased = 'INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("purchase")'
    assert _allowed(tiny, not_purchased, user="u1") == {"i1"}


def test_include_by_multi_valued_genre_parameter(tiny: Platform) -> None:
    expression = "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)"
    assert _allowed(tiny, expression, values={"GENRE": '"comedy"'}) == {"i1", "i2"}
    assert _allowed(tiny, expression, values={"GENRE": '"horror","drama"'}) == {"i2", "i3", "i4"}
    assert _allowed(tiny, expression, values={"$GENRE": '"scifi"'}) == set()
    with pytest.raises(InvalidInputError, match=r"filter parameter \$GENRE has no value"):
        _allowed(tiny, expression)
    # an EXCLUDE whose parameters are all omitted is skipped, as in Personalize
    assert _allowed(tiny, "EXCLUDE ItemID WHERE Items.GENRES IN ($GENRE)") == ALL
    assert _allowed(tiny, 'EXCLUDE ItemID WHERE Items.GENRES NOT IN ("comedy")') == {"i1", "i2"}


def test_numeric_comparisons(tiny: Platform) -> None:
    assert _allowed(tiny, "INCLUDE ItemID WHERE Items.PRICE > 10") == {"i2", "i3", "i5"}
    assert _allowed(tiny, "INCLUDE ItemID WHERE Items.PRICE <= 8") == {"i1", "i4"}
    assert _allowed(tiny, "INCLUDE ItemID WHERE Items.PRICE = 15") == {"i2"}
    assert _allowed(tiny, "EXCLUDE ItemID WHERE Items.PRICE != 15") == {"i2"}
    assert _allowed(tiny, "INCLUDE ItemID WHERE Items.PRICE >= 25") == {"i3", "i5"}
    assert _allowed(tiny, "INCLUDE ItemID WHERE Items.PRICE < $MAX", values={"MAX": "20"}) == {"i1", "i2", "i4"}
    with pytest.raises(InvalidInputError, match=r"Items.PRICE < needs a number, got 'cheap'"):
        _allowed(tiny, "INCLUDE ItemID WHERE Items.PRICE < $MAX", values={"MAX": '"cheap"'})
    with pytest.raises(InvalidInputError, match=r"Items.COLOUR: the ITEMS schema 'Items' has no such field"):
        _allowed(tiny, 'INCLUDE ItemID WHERE Items.COLOUR IN ("red")')


def test_and_binds_tighter_than_or(tiny: Platform) -> None:
    expression = 'INCLUDE ItemID WHERE Items.GENRES IN ("drama") AND Items.PRICE < 10 OR Items.GENRES IN ("horror")'
    assert _allowed(tiny, expression) == {"i3", "i4"}


def test_if_current_user(tiny: Platform) -> None:
    expression = 'EXCLUDE ItemID WHERE Items.GENRES IN ("horror") IF CurrentUser.AGE_BAND IN ("18-24")'
    assert _allowed(tiny, expression, user="u1") == ALL - {"i3"}
    assert _allowed(tiny, expression, user="u2") == ALL
    assert _allowed(tiny, expression, user="unknown-user") == ALL
    by_param = "EXCLUDE ItemID WHERE Items.PRICE > 10 IF CurrentUser.AGE_BAND NOT IN ($BAND)"
    assert _allowed(tiny, by_param, user="u2", values={"BAND": '"18-24"'}) == {"i1", "i4"}
    assert _allowed(tiny, by_param, user="u1", values={"BAND": '"18-24"'}) == ALL


def test_current_item_for_related_items(tiny: Platform) -> None:
    expression = "INCLUDE ItemID WHERE Items.GENRES IN (CurrentItem.GENRES)"
    assert _allowed(tiny, expression, user=None, item="i4") == {"i2", "i4"}
    assert _allowed(tiny, expression, user=None, item="i2") == {"i1", "i2", "i4"}
    assert _allowed(tiny, "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE", user=None, item="i2") == {"i1", "i4"}
    with pytest.raises(InvalidInputError, match="CurrentItem in a filter works only with related-items requests"):
        _allowed(tiny, expression, user="u1")


def test_chained_expressions(tiny: Platform) -> None:
    include_minus_exclude = (
        'INCLUDE ItemID WHERE Items.GENRES IN ("comedy") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    )
    assert _allowed(tiny, include_minus_exclude, user="u1") == {"i1"}
    union = 'INCLUDE ItemID WHERE Items.GENRES IN ("horror") | INCLUDE ItemID WHERE Items.PRICE < 6'
    assert _allowed(tiny, union) == {"i1", "i3"}


def test_filter_resources_and_group_checks(tiny: Platform) -> None:
    created = create_filter(tiny, "cheap", "tiny", "INCLUDE ItemID WHERE Items.PRICE < 10")
    assert created.arn.endswith(":filter/cheap")
    assert created.describe()["filterExpression"] == "INCLUDE ItemID WHERE Items.PRICE < 10"
    assert created.describe()["datasetGroupArn"] == _group(tiny)
    with pytest.raises(FilterExpressionError, match="position 8: expected ItemID"):
        create_filter(tiny, "broken", "tiny", "INCLUDE Item WHERE Items.PRICE < 10")
    assert tiny.catalog.find(ResourceType.FILTER, "broken") is None
    with pytest.raises(InvalidInputError, match=r"filter .*:filter/cheap belongs to dataset group"):
        apply_filter(tiny, "cheap", None, "arn:aws:personalize:us-east-1:000000000000:dataset-group/other")


def test_item_metadata_is_cached_per_data_version(tiny: Platform, tmp_path: Path) -> None:
    """A new ITEMS import reaches filters once the data version is checked again (every
    filter_data_check_seconds); until then the indexed table is reused without asking the catalog."""
    check_seconds = 0.5
    watching = Platform(Settings(home=tiny.settings.home, filter_data_check_seconds=check_seconds))
    evaluator = FilterEvaluator()
    group = _group(tiny)
    first = evaluator.items(watching, group)
    assert first is not None and evaluator.items(watching, group) is first
    dataset = tiny.catalog.get(ResourceType.DATASET, "tiny-items")
    frame = read_current(tiny, dataset)
    assert frame is not None
    frame = pd.concat([frame, pd.DataFrame([{"ITEM_ID": "i6", "GENRES": "comedy", "PRICE": 1.0}])])
    frame.to_csv(tmp_path / "items.csv", index=False)
    import_dataset(
        tiny,
        ImportConfig(
            dataset_group="tiny",
            dataset_type="ITEMS",
            data_location=str(tmp_path / "items.csv"),
            schema_file=str(tmp_path / "unused.json"),
        ),
    )
    imported = time.monotonic()
    stale = evaluator.items(watching, group)
    assert stale is first or time.monotonic() - imported >= check_seconds
    time.sleep(check_seconds)
    second = evaluator.items(watching, group)
    assert second is not first and "i6" in second.all_ids
    watching.catalog.dispose()
    watching.events.dispose()


def test_concurrent_requests_share_one_table_build(tiny: Platform) -> None:
    """Requests that arrive together while a table is missing wait for one build and all get its result (each
    building its own copy multiplied a seconds-long build under load)."""
    evaluator = FilterEvaluator()
    group = _group(tiny)
    start = threading.Barrier(8)

    def read() -> object:
        start.wait()
        return evaluator.interactions(tiny, group)

    with ThreadPoolExecutor(8) as pool:
        tables = list(pool.map(lambda _: read(), range(8)))
    assert tables[0] is not None and all(table is tables[0] for table in tables)


def test_warm_filters_builds_the_tables_the_groups_filters_read(tiny: Platform) -> None:
    create_filter(tiny, "warm-bought", "tiny", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    create_filter(tiny, "warm-age", "tiny", 'INCLUDE ItemID WHERE Items.PRICE < 10 IF CurrentUser.AGE_BAND = "18-24"')
    group = _group(tiny)
    assert set(warm_filters(tiny, group)) >= {"ITEMS", "USERS", "INTERACTIONS"}
    warmed = tiny.campaign_caches.filters.interactions(tiny, group)
    assert warmed is not None and warmed.history("u1") == [("i1", "click"), ("i2", "purchase")]


# --------------------------------------------------- filtered campaigns
@pytest.fixture(scope="module")
def holder(trained_with_metadata: Trained) -> ModelHolder:
    campaign = create_campaign(
        trained_with_metadata.platform, "shop-filters", solution_version=trained_with_metadata.versions[0]
    )
    held = ModelHolder(trained_with_metadata.platform, campaign.arn)
    held.refresh()
    return held


@pytest.fixture(scope="module")
def genres(trained_with_metadata: Trained) -> dict[str, set[str]]:
    dataset = trained_with_metadata.platform.catalog.get(ResourceType.DATASET, "shop-items")
    frame = read_current(trained_with_metadata.platform, dataset)
    assert frame is not None
    return {str(i): set(str(g).split("|")) for i, g in zip(frame["ITEM_ID"], frame["GENRES"], strict=True)}


def _ids(response: dict, key: str = "itemList") -> list[str]:
    return [entry["itemId"] for entry in response[key]]


def test_filtered_recommendations_stay_full(trained_with_metadata: Trained, holder: ModelHolder, genres: dict) -> None:
    platform = trained_with_metadata.platform
    create_filter(platform, "by-genre", "shop", "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)")
    create_filter(platform, "no-action", "shop", 'EXCLUDE ItemID WHERE Items.GENRES IN ("action")')
    unfiltered = _ids(get_recommendations(platform, holder, holder.campaign_arn, user_id="u0001", num_results=25))
    comedy = _ids(
        get_recommendations(
            platform, holder, holder.campaign_arn, user_id="u0001", num_results=25,
            filter_arn="by-genre", filter_values={"GENRE": '"comedy"'},
        )
    )  # fmt: skip
    assert len(comedy) == 25 and all("comedy" in genres[i] for i in comedy)
    assert [i for i in unfiltered if "comedy" in genres[i]] == comedy[: sum("comedy" in genres[i] for i in unfiltered)]
    # backfill: a large list never comes back short while enough eligible items exist
    no_action = _ids(
        get_recommendations(
            platform, holder, holder.campaign_arn, user_id="u0001", num_results=150, filter_arn="no-action"
        )
    )
    assert len(no_action) == 150 and not any("action" in genres[i] for i in no_action)
    unknown = _ids(
        get_recommendations(
            platform, holder, holder.campaign_arn, user_id="new-user", num_results=30, filter_arn="no-action"
        )
    )
    assert len(unknown) == 30 and not any("action" in genres[i] for i in unknown)


def test_related_items_with_current_item(trained_with_metadata: Trained, holder: ModelHolder, genres: dict) -> None:
    platform = trained_with_metadata.platform
    create_filter(platform, "same-genre", "shop", "INCLUDE ItemID WHERE Items.GENRES IN (CurrentItem.GENRES)")
    related = _ids(
        get_recommendations(
            platform, holder, holder.campaign_arn, item_id="i0010", num_results=20, filter_arn="same-genre"
        )
    )
    assert len(related) == 20 and "i0010" not in related
    assert all(genres[i] & genres["i0010"] for i in related)
    with pytest.raises(InvalidInputError, match="CurrentItem in a filter works only with related-items"):
        get_recommendations(platform, holder, holder.campaign_arn, user_id="u0001", filter_arn="same-genre")


def test_ranking_drops_filtered_items(trained_with_metadata: Trained, holder: ModelHolder, genres: dict) -> None:
    platform = trained_with_metadata.platform
    create_filter(platform, "rank-no-drama", "shop", 'EXCLUDE ItemID WHERE Items.GENRES IN ("drama")')
    items = [f"i{k:04d}" for k in range(1, 21)]
    ranked = _ids(
        get_personalized_ranking(platform, holder, holder.campaign_arn, "u0002", items, filter_arn="rank-no-drama"),
        "personalizedRanking",
    )
    assert sorted(ranked) == sorted(i for i in items if "drama" not in genres[i])
    assert len(ranked) < len(items)


def test_filter_of_another_group_is_rejected(
    trained_with_metadata: Trained, holder: ModelHolder, tmp_path: Path
) -> None:
    platform = trained_with_metadata.platform
    from recsmith.data.datasets import create_dataset_group

    create_dataset_group(platform, "elsewhere")
    create_filter(platform, "foreign", "elsewhere", 'EXCLUDE ItemID WHERE Items.GENRES IN ("drama")')
    with pytest.raises(InvalidInputError, match="filter/foreign belongs to dataset group"):
        get_recommendations(platform, holder, holder.campaign_arn, user_id="u0001", filter_arn="foreign")
    with pytest.raises(InvalidInputError, match="filter/foreign belongs to dataset group"):
        create_batch_inference_job(
            platform,
            "foreign-job",
            trained_with_metadata.versions[0],
            str(tmp_path / "x"),
            str(tmp_path),
            filter_arn="foreign",
        )


def test_batch_job_applies_filter(trained_with_metadata: Trained, genres: dict, tmp_path: Path) -> None:
    platform = trained_with_metadata.platform
    create_filter(platform, "batch-genre", "shop", "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)")
    requests = tmp_path / "requests.jsonl"
    lines = [
        {"userId": "u0001"},
        {"userId": "u0002", "filterValues": {"GENRE": '"horror"'}},
        {"itemId": "i0010"},
        {"userId": "u0003", "itemList": [f"i{k:04d}" for k in range(1, 17)]},
        {"userId": "u0004", "filterValues": {"GENRE": "horror"}},
    ]
    requests.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    job = create_batch_inference_job(
        platform, "filtered-batch", trained_with_metadata.versions[0], str(requests), str(tmp_path / "out"),
        num_results=12, filter_arn="batch-genre", filter_values={"GENRE": '"comedy"'},
    )  # fmt: skip
    assert job.status is Status.ACTIVE, job.failure_reason
    assert job.attributes["filterArn"].endswith(":filter/batch-genre")
    out = [json.loads(line) for line in (tmp_path / "out" / "requests.jsonl.out").read_text().splitlines()]
    user, horror, related, ranking, bad = out
    assert len(user["output"]["recommendedItems"]) == 12
    assert all("comedy" in genres[i] for i in user["output"]["recommendedItems"])
    assert len(horror["output"]["recommendedItems"]) == 12
    assert all("horror" in genres[i] for i in horror["output"]["recommendedItems"])
    assert all("comedy" in genres[i] for i in related["output"]["recommendedItems"])
    assert sorted(ranking["output"]["recommendedItems"]) == sorted(
        f"i{k:04d}" for k in range(1, 17) if "comedy" in genres[f"i{k:04d}"]
    )
    assert bad["output"] is None and bad["error"].startswith("line 5: filterValues['GENRE']")
    assert job.attributes["recordsFailed"] == 1


# ------------------------------------------ Personalize's documented forms and refusals
def test_parenthesised_comparison_values_and_string_equality() -> None:
    (cond,) = parse_filter_expression("INCLUDE ItemID WHERE Items.PRICE > ($VALUE)").expressions[0].where[0]
    assert (cond.op, cond.value.kind, cond.value.name) == (">", "param", "VALUE")
    (cond,) = parse_filter_expression("INCLUDE ItemID WHERE Items.PRICE <= (12.5)").expressions[0].where[0]
    assert cond.value.values == ("12.5",)
    parsed = parse_filter_expression('INCLUDE ItemID WHERE Items.GENRES IN ("drama") IF CurrentUser.AGE_BAND = $BAND')
    assert parsed.params == ("BAND",) and parsed.fields == (("Items", "GENRES"), ("CurrentUser", "AGE_BAND"))


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            'INCLUDE UserID WHERE Items.GENRES IN ("x")',
            r"position 8: expected ItemID, got 'UserID' \(UserID and ActionID filters",
        ),
        (
            'INCLUDE ItemID WHERE Users.AGE_BAND IN ("x")',
            r"position 21: expected Items or Interactions, got 'Users' \(.*CurrentUser",
        ),
        ('INCLUDE ItemID WHERE Items.COLOUR IN ("x")', r"Items.COLOUR: the ITEMS schema .* has no such field"),
        ("INCLUDE ItemID WHERE Items.GENRES > 3", r"Items.GENRES: > needs a numeric field"),
        ('INCLUDE ItemID WHERE Items.GENRES IN ("x") IF CurrentUser.NOPE IN ("y")', r"CurrentUser.NOPE: the USERS"),
        (
            " AND ".join(f'Items.F{k} IN ("x")' for k in range(11)).join(["INCLUDE ItemID WHERE ", ""]),
            r"uses 11 distinct fields; Personalize allows at most 10",
        ),
    ],
)
def test_what_personalize_refuses_is_refused_with_the_reason(tiny: Platform, expression: str, message: str) -> None:
    with pytest.raises(FilterExpressionError, match=message):
        create_filter(tiny, "refused", "tiny", expression)


def test_string_equality_in_items_and_if(tiny: Platform) -> None:
    group = _group(tiny)
    evaluator = FilterEvaluator()
    parsed = parse_filter_expression('INCLUDE ItemID WHERE Items.GENRES = "drama" IF CurrentUser.AGE_BAND != $BAND')
    decision = evaluator.evaluate(tiny, parsed, group, user_id="u1", filter_values={"BAND": '"35-44"'})
    assert decision.include == {"i2", "i4"}
    skipped = evaluator.evaluate(tiny, parsed, group, user_id="u1", filter_values={"BAND": '"18-24"'})
    assert skipped.include is None


def test_put_items_patch_a_built_table_as_a_rebuild_would() -> None:
    from recsmith.campaigns.filters import ItemTable

    frame = pd.DataFrame(ITEMS, columns=["ITEM_ID", "GENRES", "PRICE"])
    old = ItemTable(frame)
    before = {value: set(items) for value, items in old.values_index("GENRES").items()}
    records = {"i2": {"GENRES": "horror", "PRICE": 1.0}, "i9": {"GENRES": "comedy|scifi", "PRICE": 2.0}}
    patched = old.with_records(records)
    rebuilt = ItemTable(
        pd.concat(
            [
                frame[~frame["ITEM_ID"].isin(list(records))],
                pd.DataFrame([{"ITEM_ID": k, **v} for k, v in records.items()]),
            ]
        )
    )
    assert patched._categorical["GENRES"] == rebuilt.values_index("GENRES")
    assert patched.all_ids == rebuilt.all_ids and patched.item_values("i9", "GENRES") == ["comedy", "scifi"]
    assert sorted(patched.ids[patched.numeric("PRICE") < 3].tolist()) == ["i2", "i9"]
    assert old.values_index("GENRES") == before  # a request still reading the old table sees it unchanged


def test_one_decision_type_answers_every_caller() -> None:
    """Serving, promotions and batch jobs all read a FilterDecision: the blocked set among a model's catalogue
    (remembered per catalogue) or among a request's candidates, and the decision with more items excluded."""
    import numpy as np

    catalogue = np.array(["i1", "i2", "i3", "i4"])
    decision = FilterDecision(include=frozenset({"i1", "i2", "i9"}), exclude=frozenset({"i2"}))
    assert decision.blocked(catalogue) == {"i2", "i3", "i4"}
    assert decision.blocked(catalogue) is decision.blocked(catalogue)  # the cached set, not a new one
    assert decision.blocked(["i1", "i2", "i3", "i9"]) == {"i2", "i3"}
    narrower = decision.without({"i1"})
    assert narrower.blocked(catalogue) == {"i1", "i2", "i3", "i4"} and not narrower.allows("i1")
    assert decision.allows("i1")  # the original is unchanged
    assert ALLOW_ALL.blocked(catalogue) == set() and ALLOW_ALL.allows("anything")


def test_caches_belong_to_their_platform(tiny: Platform, tmp_path: Path) -> None:
    """Two installations in one process share no filter record, parse or table: each platform owns its caches."""
    other = Platform(Settings(home=tmp_path / "elsewhere"))
    assert other.campaign_caches is not tiny.campaign_caches
    create_filter(tiny, "mine", "tiny", 'EXCLUDE ItemID WHERE Items.GENRES IN ("comedy")')
    apply_filter(tiny, "mine", None, _group(tiny), user_id="u1")
    with pytest.raises(ResourceNotFoundError, match="no filter with ARN or name 'mine'"):
        apply_filter(other, "mine", None, _group(tiny), user_id="u1")
    other.catalog.dispose()
