"""The ``shopml`` command line: one thin command per stage, each stage imported only when run,
so ``shopml --help`` answers at once. Every command takes ``--home`` (default: ``$SHOPML_HOME``,
else ``./data`` at the project root)."""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .settings import DEFAULT_STREAM_REDIS, HOME_ENV_VAR, SERVING_TIME_ENV_VAR, Settings

app = typer.Typer(help="shopml: a feature-store-centred ML platform for e-commerce.",
                  no_args_is_help=True, add_completion=False)
ingest_app = typer.Typer(help="Import real shop data into the warehouse.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
features_app = typer.Typer(help="Build feature tables, register them with Feast, load the online store.",
                           no_args_is_help=True)
app.add_typer(features_app, name="features")
report_app = typer.Typer(help="Reports written from the saved models over the warehouse as it is now.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")
index_app = typer.Typer(help="The item embedding index (FAISS) behind similar items and search.",
                        no_args_is_help=True)
app.add_typer(index_app, name="index")
stream_app = typer.Typer(help="Real-time session counters: the event stream (Redis) into Feast's user_realtime view.",
                         no_args_is_help=True)
app.add_typer(stream_app, name="stream")
console = Console()

HomeOption = Annotated[
    Optional[Path],
    typer.Option("--home", help=f"Data home (default: ${HOME_ENV_VAR}, else ./data at the project root).",
                 show_default=False),
]


def _settings(home: Path | None) -> Settings:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
    return Settings.resolve(home)


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code=2)


@app.command()
def simulate(
    users: Annotated[int, typer.Option(help="Customers, including those who sign up during the run.")] = 20_000,
    days: Annotated[Optional[int], typer.Option(help="Simulated days (default: the demo shop's).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same tables.")] = 7,
    items: Annotated[Optional[int], typer.Option(help="Catalogue size (default: scales with users).")] = None,
    start: Annotated[Optional[datetime], typer.Option(formats=["%Y-%m-%d"], help="First simulated day (UTC).")] = None,
    search_exploration: Annotated[Optional[float], typer.Option(
        help="Share of searches the engine answers with a random sample of the subcategory (default 0.05).")] = None,
    home: HomeOption = None,
) -> None:
    """Simulate a shop and write it, with its hidden truth, to <home>/warehouse.duckdb."""
    from rich.progress import Progress

    from .warehouse.simulator import SimulationConfig, simulate as run
    from .warehouse.simulator.config import Behaviour

    settings = _settings(home)
    if search_exploration is not None and not 0 <= search_exploration <= 1:
        _fail(f"--search-exploration must be a share from 0 to 1, not {search_exploration}; nothing was written")
    try:
        extra = {**({"start": start.date()} if start else {}), **({"days": days} if days is not None else {}),
                 **({"behaviour": Behaviour(search_exploration=search_exploration)}
                    if search_exploration is not None else {})}
        config = SimulationConfig(users=users, seed=seed, items=items, **extra)
    except ValueError as error:
        _fail(str(error))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"simulating {users:,} users x {config.days} days", total=config.days)
        counts = run(config, settings.warehouse_path, on_day=lambda done, _: progress.update(task, completed=done))
    console.print(f"wrote {settings.warehouse_path} ({counts['events']:,} events, {counts['users']:,} users)")


@ingest_app.command("online-retail")
def ingest_online_retail(
    path: Annotated[Path, typer.Argument(help="UCI Online Retail I or II, as .parquet or .csv.")],
    home: HomeOption = None,
) -> None:
    """Import UCI Online Retail (either spelling) into <home>/warehouse.duckdb, replacing it."""
    from .warehouse.importers.online_retail import SourceFormatError, ingest_online_retail as run

    settings = _settings(home)
    try:
        with console.status(f"importing {path.name}"):
            report = run(path, settings.warehouse_path)
    except (SourceFormatError, FileNotFoundError) as error:
        _fail(f"{error}\nnothing was written; {settings.warehouse_path} is unchanged")
    _print_import(report, settings)


@ingest_app.command("reviews")
def ingest_reviews(
    path: Annotated[Path, typer.Argument(help="Reviews as .parquet or .csv.")],
    text_column: Annotated[str, typer.Option(help="The column holding the review's text.")] = "text",
    rating_column: Annotated[str, typer.Option(help="The column holding the 1-5 star rating.")] = "rating",
    item_column: Annotated[str, typer.Option(help="The column holding the item's key (its sku in the catalogue).")] = "item_id",
    time_column: Annotated[str, typer.Option(help="The column holding when it was written (UTC unless zoned).")] = "ts",
    user_column: Annotated[Optional[str], typer.Option(help="The column holding the user's id, if any.")] = None,
    home: HomeOption = None,
) -> None:
    """Add reviews to <home>/warehouse.duckdb (a new warehouse when there is none); rows that
    cannot be used are listed in rejected_rows with the reason."""
    from .warehouse.importers.online_retail import SourceFormatError
    from .warehouse.importers.reviews import ReviewColumns, ingest_reviews as run

    settings = _settings(home)
    columns = ReviewColumns(text=text_column, rating=rating_column, item=item_column, time=time_column, user=user_column)
    try:
        with console.status(f"importing {path.name}"):
            report = run(path, settings.warehouse_path, columns)
    except (SourceFormatError, FileNotFoundError) as error:
        _fail(f"{error}\nnothing was written; {settings.warehouse_path} is unchanged")
    _print_import(report, settings)


def _print_import(report, settings: Settings) -> None:
    console.print(f"{report.source.name}: {report.rows_read:,} rows read, {report.rows_accepted:,} accepted, "
                  f"{sum(report.rejected.values()):,} rejected")
    table = Table()
    table.add_column("rejected because")
    table.add_column("rows", justify="right")
    for reason, count in report.rejected.items():
        table.add_row(reason, f"{count:,}")
    table.add_row("[bold]total rejected", f"[bold]{sum(report.rejected.values()):,}")
    console.print(table)
    console.print("loaded: " + ", ".join(f"{name} {count:,}" for name, count in report.table_counts.items()))
    console.print(f"wrote {settings.warehouse_path}; rejected rows are in the rejected_rows table")


@features_app.command("build")
def features_build(
    view: Annotated[Optional[list[str]], typer.Option(help="Only this view (repeatable).")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even views whose inputs are unchanged.")] = False,
    engine: Annotated[str, typer.Option(
        help="duckdb, or spark: the same SQL on Spark (SHOPML_SPARK_MASTER, default local[*]; "
             "SHOPML_SPARK_CONF; docs/scale-out.md).")] = "duckdb",
    home: HomeOption = None,
) -> None:
    """Compute every feature view's table from the warehouse into <home>/features/*.parquet, then
    refresh the views stored models write (user_embedding, user_segment) on the new tables."""
    from feature_repo.pipeline import FeatureBuildError, build_features
    from feature_repo.spark_engine import SparkUnavailableError

    settings = _settings(home)
    try:
        with console.status("building feature tables") as status:
            def report(result):
                state = "unchanged, kept" if result.skipped else f"built in {result.seconds:.1f} s"
                console.print(f"  {result.view:<16} {result.rows:>11,} rows  {state}")
                status.update(f"building feature tables ({result.view} done)")
            build_features(settings, views=view, force=force, on_view=report, engine=engine)
    except (FileNotFoundError, ValueError, FeatureBuildError, SparkUnavailableError) as error:
        _fail(str(error))
    if not view:                                    # the views models write, from the stored models
        from training.view_refresh import refresh_model_views

        try:
            with console.status("refreshing the views models write"):
                for line in refresh_model_views(settings):
                    console.print(f"  {line}")
        except Exception as error:                  # a registry not applied, a model of other features...
            _fail(f"the feature tables are built, but the views models write were not refreshed: {error}")
    console.print(f"feature tables in {settings.features_dir}")


@features_app.command("apply")
def features_apply(home: HomeOption = None) -> None:
    """Register the feature definitions with Feast (runs `feast apply` for this home)."""
    from feature_repo.store import FeatureStoreError, apply

    settings = _settings(home)
    try:
        with console.status("feast apply"):
            output = apply(settings)
    except FeatureStoreError as error:
        _fail(str(error))
    console.print(output.strip())


@features_app.command("materialize")
def features_materialize(
    end: Annotated[Optional[datetime], typer.Option(help="Load snapshots up to this time (UTC); "
                                                         "default: the newest snapshot built.")] = None,
    stock: Annotated[bool, typer.Option(help="Load with Feast's own materialize (the same rows and bytes, "
                                             "about 3 times slower into SQLite, 10 into Redis).")] = False,
    view: Annotated[Optional[list[str]], typer.Option(help="Load only this view (repeat for more); "
                                                          "default: every online view.")] = None,
    home: HomeOption = None,
) -> None:
    """Load the latest snapshot of every entity into the online store."""
    import time
    from datetime import timezone

    from feature_repo.store import FeatureStoreError, materialize

    settings = _settings(home)
    started = time.perf_counter()
    try:
        with console.status("materialising the online store") as status:
            done = materialize(settings, end=end.replace(tzinfo=timezone.utc) if end else None, stock=stock,
                               views=view, on_view=lambda name, rows: status.update(
                                   f"materialising: {name} loaded ({rows:,} rows)"))
    except FeatureStoreError as error:
        _fail(str(error))
    seconds = time.perf_counter() - started
    if done.loader == "bulk":
        console.print(f"{done.entity_rows:,} entity rows in {seconds:.1f} s ({done.entity_rows / seconds:,.0f} rows/s)")
    elif done.why_stock:
        console.print(f"loaded by Feast's own materialize: the bulk loader does not write {done.why_stock}")
    console.print(f"online store loaded with snapshots up to {done.end:%Y-%m-%d %H:%M:%S} UTC")


@app.command()
def train(
    task: Annotated[str, typer.Argument(help="A task name, or 'all'.")],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value: key=value.")] = None,
    preset: Annotated[Optional[Path], typer.Option(help="JSON file of config values (under --set).")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="With 'all': tasks trained at a time, each in its own process "
                                                  "with cores/jobs threads (for machines with cores to spare).")] = 1,
    home: HomeOption = None,
) -> None:
    """Train a task on point-in-time features, evaluate it on later cut-offs, save it to the model store."""
    from training.config import ConfigError, resolve_config
    from training.schedule import train_side_by_side
    from training.task import run
    from training.tasks import REGISTRY, TASKS, made_by

    settings = _settings(home)
    chosen = list(TASKS) if task == "all" else [task]
    unknown = [name for name in chosen if name not in TASKS]
    if unknown and unknown[0] in REGISTRY:
        _fail(f"{unknown[0]} is not trained by `shopml train`: `{made_by(REGISTRY[unknown[0]])}` makes its model")
    if unknown:
        _fail(f"unknown task {unknown[0]!r}; known: {', '.join(TASKS)}, all")
    configs = {}
    for name in chosen:
        try:
            configs[name] = resolve_config(TASKS[name].config_type, preset, set_ or [])
        except (ConfigError, OSError) as error:
            _fail(str(error))
    try:
        if len(chosen) == 1 or jobs == 1:
            for name in chosen:
                with console.status(f"{name}") as status:
                    result = run(TASKS[name], configs[name], settings,
                                 on_step=lambda step: status.update(f"{name}: {step}"))
                _print_trained(name, result)
        else:
            running: list[str] = []
            trained: list[str] = []
            with console.status("training") as status:
                def show() -> None:
                    status.update(f"training {', '.join(running)} ({len(trained)} of {len(configs)} done)")

                def started(name: str) -> None:
                    running.append(name)
                    show()

                def finished(name: str, result) -> None:
                    running.remove(name)
                    trained.append(name)
                    _print_trained(name, result)
                    show()

                train_side_by_side(configs, settings, jobs, on_start=started, on_done=finished)
    except ValueError as error:          # the data cannot make this task's rows (too short, no truth, ...)
        _fail(f"{getattr(error, 'task', chosen[0])}: {error}")


def _print_trained(name: str, result) -> None:
    from training.tasks import TASKS

    console.print(f"[bold]{name}[/] saved as {result.tag} ({sum(result.seconds.values()):.0f} s)")
    trained = TASKS[name]
    for line in [*trained.evaluation.summary(result.metrics),
                 *getattr(trained, "describe", lambda metrics: [])(result.metrics)]:
        console.print(f"  {line}")
    console.print(f"  report: {result.report}")


@app.command()
def tasks(home: HomeOption = None) -> None:
    """Every task: the question it answers, its endpoint, its model in the store and its headline test figure."""
    from training.catalogue import catalogue

    settings = _settings(home)
    table = Table("task", "question", "endpoint", "model", "headline (test)", "reference")
    for entry in catalogue(settings):
        figure = entry.headline
        table.add_row(entry.name, entry.question, entry.endpoint or "",
                      entry.tag or f"[yellow]not made: {entry.made_by}",
                      f"{figure.metric} {figure.model:.3f}" + (f", skill {figure.skill:.2f}" if figure.skill is not None else "")
                      if figure else "",
                      f"{figure.reference_name} {figure.reference:.3f}" if figure and figure.reference is not None else "")
    console.print(table)


@index_app.command("build")
def index_build(
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value: key=value.")] = None,
    home: HomeOption = None,
) -> None:
    """Embed the catalogue (only new texts), build the FAISS index, judge similar items, save it."""
    from training.config import ConfigError, resolve_config
    from training.item_index import ItemIndexConfig, build_item_index
    from training.tasks import REGISTRY

    settings = _settings(home)
    try:
        config = resolve_config(ItemIndexConfig, None, set_ or [])
    except ConfigError as error:
        _fail(str(error))
    try:
        with console.status("item index") as status:
            tag, info = build_item_index(
                settings, config, on_step=lambda step: status.update(f"item index: {step}"),
                on_batch=lambda done, total: status.update(f"item index: encoded {done:,} of {total:,} texts"))
    except (FileNotFoundError, ValueError) as error:
        _fail(str(error))
    console.print(f"[bold]item_index[/] saved as {tag}: {info['items']:,} items, {info['index_type']}, "
                  f"dimension {info['dimension']}, {info['encoded_now']:,} texts encoded now "
                  f"({info['embedding_seconds']:.1f} s), index built in {info['build_seconds']:.2f} s")
    for line in REGISTRY["similar_items"].evaluation.summary(info["metrics"]):
        console.print(f"  {line}")


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    try_endpoints: Annotated[bool, typer.Option(
        "--try-endpoints", help="Start on a free port, call each endpoint once, print the answers, stop.")] = False,
    home: HomeOption = None,
) -> None:
    """Serve every endpoint (`bentoml serve services.service:Shop`) over this home's models and features."""
    import json
    import subprocess

    from services.server import ServerError, running_server, serve_command, serve_environment

    settings = _settings(home)
    environment = serve_environment(settings)
    if SERVING_TIME_ENV_VAR in environment:
        console.print(f"features are served as of {environment[SERVING_TIME_ENV_VAR]} ({SERVING_TIME_ENV_VAR}; "
                      "a simulated shop's world ends on its last day)")
    if not try_endpoints:
        console.print(f"serving on http://{host}:{port} (health: /health/, readiness: /readyz; Ctrl-C stops)")
        raise typer.Exit(subprocess.run(serve_command(port, host), env=environment).returncode)
    from services.examples import call_endpoints, example_requests

    console.print("starting the server on a free port (about 20 s)")
    try:
        with running_server(settings) as url:
            console.print(f"server ready at {url}")
            for route, response in call_endpoints(url, example_requests(settings)).items():
                console.print(f"[bold]POST {route}[/] -> {response.status_code}")
                console.print(json.dumps(response.json(), indent=1)[:1500])
    except ServerError as error:
        _fail(str(error))
    console.print("server stopped")


RedisOption = Annotated[str, typer.Option("--redis", help="The Redis holding the event stream.")]


@stream_app.command("consume")
def stream_consume(
    from_start: Annotated[bool, typer.Option("--from-start", help="Read the entries already in the stream too.")] = False,
    idle_seconds: Annotated[Optional[float], typer.Option(help="Stop after this long without an event "
                                                               "(default: run until Ctrl-C).")] = None,
    redis_url: RedisOption = DEFAULT_STREAM_REDIS,
    home: HomeOption = None,
) -> None:
    """Read events from the stream and push each user's session counters into `user_realtime`."""
    from feature_repo.store import FeatureStoreError, open_store
    from feature_repo.stream import STREAM_KEY, StreamError, connect_redis, consume

    settings = _settings(home)
    try:
        store, client = open_store(settings), connect_redis(redis_url)
    except (FeatureStoreError, StreamError) as error:
        _fail(str(error))
    console.print(f"reading {STREAM_KEY} on {redis_url} (Ctrl-C stops)")

    def progress(done):
        if done.pushes % 50 == 0:
            console.print(f"{done.events:,} events, {done.pushes:,} pushes; freshness p50 {done.percentile(50):.0f} ms, "
                          f"p99 {done.percentile(99):.0f} ms")

    try:
        done = consume(store, client, start_id="0" if from_start else "$", idle_seconds=idle_seconds, on_batch=progress)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    console.print(f"{done.events:,} events in {done.pushes:,} pushes; from entering the stream to readable online "
                  f"p50 {done.percentile(50):.0f} ms, p99 {done.percentile(99):.0f} ms")


@stream_app.command("replay")
def stream_replay(
    day: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="The day of the warehouse's events to send.")],
    rate: Annotated[float, typer.Option(help="Events per second.")] = 1_000,
    limit: Annotated[Optional[int], typer.Option(help="Send at most this many events.")] = None,
    redis_url: RedisOption = DEFAULT_STREAM_REDIS,
    home: HomeOption = None,
) -> None:
    """Send one day of the warehouse's events into the stream, in time order, at a chosen rate."""
    from feature_repo.stream import STREAM_KEY, StreamError, connect_redis, replay

    settings = _settings(home)
    try:
        with console.status(f"replaying {day:%Y-%m-%d} into {STREAM_KEY} at {rate:,.0f} events/s"):
            done = replay(settings, connect_redis(redis_url), day, rate, limit)
    except StreamError as error:
        _fail(str(error))
    console.print(f"sent {done.events:,} events in {done.seconds:.1f} s ({done.events_per_second:,.0f} events/s)")


WHATIF_POLICIES = {"prices": ("price_elasticity", None), "coupons": ("coupon_uplift", "coupon"),
                   "pushes": ("push_uplift", "push"), "search": ("feedback", None)}
# policy -> (the task whose model (or, for search, whose review features) it needs, what is sent)


def _change(row: dict, measure: str) -> str:
    return (f"{row[f'{measure}_change']:+,.0f} ({row[f'{measure}_change_low']:+,.0f} to "
            f"{row[f'{measure}_change_high']:+,.0f})")


@app.command()
def whatif(
    policy: Annotated[str, typer.Option(help="The policy to judge: prices (the latest price_elasticity model's advice), "
                                             "coupons or pushes (one more campaign planned by the latest uplift model, "
                                             "beside propensity, random and oracle plans), or search (results "
                                             "ranked by what reviews say, beside the truth's ranking).")] = "prices",
    horizon: Annotated[Optional[int], typer.Option(min=1, max=365, help="Days the shop runs on from the end of its "
                                                   "data (default: prices, pushes and search 28, coupons 14).")] = None,
    seeds: Annotated[int, typer.Option(min=2, max=500, help="Paired futures per arm (the interval's spread).")] = 20,
    home: HomeOption = None,
) -> None:
    """Continue the simulated shop under a policy and as it was, on the same random numbers: each
    measure's change from the status quo with its 95% interval over the paired futures (value:
    revenue less the lifetime value of the churned customers)."""
    from .model_store import ModelMissingError, artifact_folder

    if policy not in WHATIF_POLICIES:
        _fail(f"unknown policy {policy!r}; known: {', '.join(WHATIF_POLICIES)}")
    settings = _settings(home)
    task, send = WHATIF_POLICIES[policy]
    try:
        folder, metadata = artifact_folder(f"{task}:latest", settings)
    except ModelMissingError:
        _fail(f"no {task} model in this home: run `shopml train {task}` first")
    try:
        with console.status(f"{seeds} paired futures per arm"):
            if policy == "prices":
                _price_whatif(settings, metadata, horizon or 28, seeds)
            elif policy == "search":
                _search_whatif(settings, horizon or 28, seeds)
            else:
                _campaign_whatif(settings, send, folder, metadata, horizon, seeds)
    except ValueError as error:
        _fail(str(error))


def _price_whatif(settings: Settings, metadata: dict, horizon: int, seeds: int) -> None:
    from training.price_advice import price_whatif

    found = price_whatif(settings, metadata["elasticities"], float(metadata["config"]["band"]), horizon, seeds)
    table = Table("arm", "revenue", "revenue change (95%)", "units change", "churned change (95%)", "value change (95%)")
    for arm, row in found.items():
        table.add_row(arm, f"{row['revenue']:,.0f}", _change(row, "revenue"), f"{row['units_change']:+,.0f}",
                      _change(row, "churned"), _change(row, "value"))
    console.print(table)
    console.print(f"the advice {'may' if metadata['config']['allow_rises'] else 'may not'} raise prices "
                  f"(chosen in the validation what-if); a lost customer is valued at {found['status quo']['lifetime_value']:,.0f}")


def _search_whatif(settings: Settings, horizon: int, seeds: int) -> None:
    from training.search_policy import search_whatif

    found = search_whatif(settings, horizon, seeds)
    measures = ("units", "revenue", "buyers", "churned", "value")
    table = Table("search ranked", *(f"{m} change (95%)" for m in measures))
    for arm, row in found.items():
        table.add_row(arm, *(_change(row, m) for m in measures))
    console.print(table)
    console.print(f"status quo: results ranked by appeal; a lost customer is valued at "
                  f"{found['status quo']['lifetime_value']:,.0f}")


def _campaign_whatif(settings: Settings, send: str, folder: Path, metadata: dict, horizon: int | None,
                     seeds: int) -> None:
    from feature_repo.definitions import names
    from training.campaign_plan import PREDICTED_LOST, campaign_whatif
    from training.campaigns import CampaignModel

    from .matrix import FeatureLayout
    from .model_store import boosters_in

    model = CampaignModel.from_boosters(boosters_in(folder, metadata), FeatureLayout.from_metadata(metadata))
    found = campaign_whatif(settings, send, model, names.CHURN_V1, seeds, horizon)
    measures = ("buyers", "revenue", "coupon_cost", "churned", "value")
    harm = [PREDICTED_LOST] if any(PREDICTED_LOST in row for row in found["plans"].values()) else []
    table = Table("plan", "sends", *(f"{m.replace('_', ' ')} change (95%)" for m in measures),
                  *(["predicted users lost"] if harm else []))
    for arm, row in found["plans"].items():
        table.add_row(arm, f"{row['sends']:,.0f}", *(_change(row, m) for m in measures),
                      *(f"{row[key]:,.1f}" if key in row else "–" for key in harm))
    console.print(table)
    margins = Table("one plan minus another", *(f"{m.replace('_', ' ')} (95%)" for m in measures))
    for pair, row in found["margins"].items():
        margins.add_row(pair.replace(" - ", " − "), *(_change(row, m) for m in measures))
    console.print(margins)
    if "choice" in found:
        choice = Table("the model's plan, each user's campaign", "truly the best", "expected buyers (true uplift)")
        for name, row in found["choice"].items():
            choice.add_row(name, f"{row['truly_best_share']:.3f}", f"{row['expected_buyers_of_the_plan']:,.1f}")
        console.print(choice)


@report_app.command("feedback")
def report_feedback(home: HomeOption = None) -> None:
    """What reviews are about (topics, keywords, examples), each category's weekly negative share,
    each aspect's sentiment per category and the items whose reviews turned negative, as HTML."""
    from training.tasks.feedback import rewrite_feedback_report

    settings = _settings(home)
    try:
        with console.status("analysing reviews"):
            path = rewrite_feedback_report(settings)
    except (ValueError, FileNotFoundError) as error:
        _fail(str(error))
    console.print(f"wrote {path}")


@app.command()
def summary(home: HomeOption = None) -> None:
    """Row counts per table, the date range and a sample of each table of the warehouse."""
    from .warehouse.database import WarehouseMissingError
    from .warehouse.summary import summarize

    settings = _settings(home)
    try:
        result = summarize(settings.warehouse_path)
    except WarehouseMissingError as error:
        _fail(str(error))
    console.rule(f"warehouse {result.path}")
    console.print(f"source: {result.source}   events from {result.first_event} to {result.last_event}"
                  f"   ground truth: {'yes (schema truth)' if result.has_truth else 'no'}")
    counts = Table("table", "rows")
    for name, count in result.row_counts.items():
        counts.add_row(name, f"{count:,}")
    console.print(counts)
    for name, frame in result.samples.items():
        console.print(f"[bold]sample of {name}")
        for row in frame.iter_rows(named=True):
            console.print("  " + "  ".join(f"[dim]{k}=[/]{_short(v)}" for k, v in row.items()), soft_wrap=True)


def _short(value, width: int = 48) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"

if __name__ == "__main__":
    app()
