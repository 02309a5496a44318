"""Data versions: immutable Parquet parts, INCREMENTAL with hard links, md5s, DVC entries and ``dvc push``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from models.columns import ITEM_ID, TIMESTAMP, USER_ID
from recsmith.catalog import ResourceType, Status
from recsmith.data.datasets import create_dataset, create_dataset_group, create_schema, update_dataset
from recsmith.data.imports import create_dataset_import_job, read_current
from recsmith.data.sample import INTERACTIONS_SCHEMA
from recsmith.errors import SchemaError
from recsmith.platform import Platform
from recsmith.settings import Settings

HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n"


def _platform(home: Path, **settings: object) -> Platform:
    built = Platform(Settings(home=home, import_part_rows=1, **settings))  # type: ignore[arg-type]
    create_dataset_group(built, "shop")
    create_schema(built, "shop-interactions", json.dumps(INTERACTIONS_SCHEMA))
    create_dataset(built, "shop-interactions", "shop", "INTERACTIONS", "shop-interactions")
    return built


def _files(folder: Path, files: dict[str, str]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        (folder / name).write_text(HEADER + rows)
    return str(folder)


def _version(platform: Platform) -> dict:  # type: ignore[type-arg]
    return platform.catalog.get(ResourceType.DATASET, "shop-interactions").attributes["dataVersion"]


def test_incremental_links_untouched_parts_and_rewrites_the_rest(tmp_path: Path) -> None:
    platform = _platform(tmp_path / "home")
    source = _files(
        tmp_path / "full",
        {
            "a.csv": "u1,i1,100,click\nu1,i2,101,click\n",
            "b.csv": "u2,i1,200,click\nu2,i3,201,click\n",
            "c.csv": "u3,i4,300,click\n",
        },
    )
    assert create_dataset_import_job(platform, "full", "shop-interactions", source).status is Status.ACTIVE
    first = _version(platform)
    assert [p["rows"] for p in first["partMd5s"]] == [2, 2, 1]
    # one event of b.csv comes again with another type (it replaces the old one), one is new
    more = _files(tmp_path / "more", {"d.csv": "u2,i3,201,purchase\nu4,i5,400,click\n"})
    job = create_dataset_import_job(platform, "more", "shop-interactions", more, "INCREMENTAL")
    assert job.status is Status.ACTIVE, job.failure_reason
    second = _version(platform)
    assert second["rowsReplaced"] == 1 and second["rowCount"] == 6
    old, new = Path(first["path"]), Path(second["path"])
    inode = [(old / f"part-0000{n}.parquet").stat().st_ino for n in range(3)]
    assert (new / "part-00000.parquet").stat().st_ino == inode[0]  # a.csv's part: linked
    assert (new / "part-00001.parquet").stat().st_ino != inode[1]  # lost a row: rewritten
    assert (new / "part-00002.parquet").stat().st_ino == inode[2]
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, "shop-interactions"))
    assert frame is not None
    replaced = frame[(frame[USER_ID] == "u2") & (frame[ITEM_ID] == "i3")]
    assert replaced["EVENT_TYPE"].tolist() == ["purchase"] and replaced[TIMESTAMP].tolist() == [201]
    # the first version is immutable: still there, unchanged
    assert sum(p["rows"] for p in first["partMd5s"]) == 5
    for part in first["partMd5s"]:
        assert hashlib.md5((old / part["name"]).read_bytes()).hexdigest() == part["md5"]
    # the version md5 is over the list of part md5s
    assert second["md5"] == hashlib.md5("\n".join(p["md5"] for p in second["partMd5s"]).encode()).hexdigest()
    platform.catalog.dispose()


def test_put_events_survive_a_full_import(tmp_path: Path) -> None:
    from recsmith.events.tracker import create_event_tracker, put_events

    platform = _platform(tmp_path / "home")
    create_dataset_import_job(platform, "one", "shop-interactions", _files(tmp_path / "a", {"a.csv": "u1,i1,1,x\n"}))
    tracking_id = create_event_tracker(platform, "tracker", "shop").attributes["trackingId"]
    put_events(platform, tracking_id, "s1", [{"eventType": "click", "itemId": "i9", "sentAt": 1700000000}], "u9")
    job = create_dataset_import_job(
        platform, "two", "shop-interactions", _files(tmp_path / "b", {"b.csv": "u2,i2,2,x\n"})
    )
    assert job.status is Status.ACTIVE
    group = platform.catalog.get(ResourceType.DATASET_GROUP, "shop").arn
    events = platform.events.events_frame(group)
    assert events[ITEM_ID].tolist() == ["i9"]
    bulk = read_current(platform, platform.catalog.get(ResourceType.DATASET, "shop-interactions"))
    assert bulk is not None and bulk[USER_ID].tolist() == ["u2"]
    platform.catalog.dispose()
    platform.events.dispose()


def test_update_dataset_adds_a_column_and_old_data_stays_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recsmith.cli import main

    platform = _platform(tmp_path / "home")
    create_dataset_import_job(platform, "one", "shop-interactions", _files(tmp_path / "a", {"a.csv": "u1,i1,1,x\n"}))
    wider = json.loads(json.dumps(INTERACTIONS_SCHEMA))
    wider["fields"].append({"name": "DEVICE", "type": ["null", "string"], "categorical": True})
    create_schema(platform, "wider", json.dumps(wider))
    required = json.loads(json.dumps(INTERACTIONS_SCHEMA))
    required["fields"].append({"name": "DEVICE", "type": "string"})
    create_schema(platform, "required", json.dumps(required))
    narrower = json.loads(json.dumps(INTERACTIONS_SCHEMA))
    narrower["fields"] = narrower["fields"][:3]
    create_schema(platform, "narrower", json.dumps(narrower))
    with pytest.raises(SchemaError, match="added field DEVICE must be nullable"):
        update_dataset(platform, "shop-interactions", "required")
    with pytest.raises(SchemaError, match="drops field EVENT_TYPE; an update can only add fields"):
        update_dataset(platform, "shop-interactions", "narrower")
    monkeypatch.setenv("RECSMITH_HOME", str(tmp_path / "home"))
    capsys.readouterr()
    assert main(["update-dataset", "--dataset", "shop-interactions", "--schema", "wider"]) == 0
    assert json.loads(capsys.readouterr().out)["datasetArn"].endswith(":dataset/shop/INTERACTIONS")
    more = tmp_path / "b.csv"
    more.write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,DEVICE\nu2,i2,2,x,phone\n")
    job = create_dataset_import_job(platform, "two", "shop-interactions", str(more), "INCREMENTAL")
    assert job.status is Status.ACTIVE, job.failure_reason
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, "shop-interactions"))
    assert frame is not None
    assert frame[USER_ID].tolist() == ["u1", "u2"]  # the old row, rewritten with the new column as null
    assert frame["DEVICE"].isna().tolist() == [True, False] and frame["DEVICE"].iloc[1] == "phone"
    platform.catalog.dispose()


def test_dvc_tracks_each_version_and_pushes_to_a_folder_remote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recsmith.cli import main

    home = tmp_path / "home"
    platform = _platform(home)
    job = create_dataset_import_job(
        platform, "one", "shop-interactions", _files(tmp_path / "a", {"a.csv": "u1,i1,1,x\n"})
    )
    version = job.attributes["dataVersion"]
    dvc_file = Path(version["dvcFile"])
    assert dvc_file == Path(version["path"] + ".dvc") and dvc_file.is_file()
    assert (platform.settings.data_root / ".dvc").is_dir() and not (platform.settings.data_root / ".git").exists()
    remote = tmp_path / "remote"
    monkeypatch.setenv("RECSMITH_HOME", str(home))
    monkeypatch.setenv("RECSMITH_DVC_REMOTE", str(remote))
    capsys.readouterr()
    assert main(["push-data-versions"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["versions"] == 1 and out["filesPushed"] >= 2
    pushed = {p.name for p in remote.rglob("*") if p.is_file()}
    for part in version["partMd5s"]:
        assert part["md5"][2:] in pushed
    platform.catalog.dispose()


def test_dvc_tracking_can_be_turned_off(tmp_path: Path) -> None:
    platform = _platform(tmp_path / "home", dvc_track=False)
    job = create_dataset_import_job(
        platform, "one", "shop-interactions", _files(tmp_path / "a", {"a.csv": "u1,i1,1,x\n"})
    )
    assert job.status is Status.ACTIVE and "dvcFile" not in job.attributes["dataVersion"]
    assert not (platform.settings.data_root / ".dvc").exists()
    platform.catalog.dispose()


def test_records_are_equal_only_when_both_key_hashes_are() -> None:
    import numpy as np

    from recsmith.data.versions import KeySet, duplicate_mask

    hashes = np.array([[1, 10], [1, 11], [2, 5], [1, 10]], dtype=np.uint64)
    assert duplicate_mask(hashes).tolist() == [True, False, False, False]  # the last of equal keys is kept
    assert KeySet(np.array([[1, 11]], dtype=np.uint64)).replaced(hashes).tolist() == [False, True, False, False]
    colliding = np.array([[1, 11], [1, 12]], dtype=np.uint64)  # two new keys share a first hash
    assert KeySet(colliding).replaced(hashes).tolist() == [False, True, False, False]


def test_incremental_items_replace_by_id(tmp_path: Path) -> None:
    from recsmith.data.sample import ITEMS_SCHEMA

    platform = Platform(Settings(home=tmp_path / "home"))
    create_dataset_group(platform, "shop")
    create_schema(platform, "shop-items", json.dumps(ITEMS_SCHEMA))
    create_dataset(platform, "shop-items", "shop", "ITEMS", "shop-items")
    first = tmp_path / "items.csv"
    first.write_text("ITEM_ID,GENRES,CREATION_TIMESTAMP\ni1,a|b,100\ni2,c,200\ni2,d,201\n")
    job = create_dataset_import_job(platform, "items", "shop-items", str(first))
    assert job.status is Status.ACTIVE and job.attributes["duplicatesDropped"] == 1  # i2: the last row wins
    more = tmp_path / "more.csv"
    more.write_text("ITEM_ID,GENRES,CREATION_TIMESTAMP\ni1,z,300\ni3,,400\n")
    job = create_dataset_import_job(platform, "more", "shop-items", str(more), "INCREMENTAL")
    assert job.status is Status.ACTIVE and job.attributes["dataVersion"]["rowsReplaced"] == 1
    frame = read_current(platform, platform.catalog.get(ResourceType.DATASET, "shop-items"))
    assert frame is not None
    rows = {r.ITEM_ID: (r.GENRES, r.CREATION_TIMESTAMP) for r in frame.itertuples()}
    assert rows["i1"] == ("z", 300) and rows["i2"] == ("d", 201) and rows["i3"][1] == 400
    assert pd.isna(rows["i3"][0]) and len(rows) == 3
    platform.catalog.dispose()
