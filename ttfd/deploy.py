"""The deploy manifest: every function the registry has, how it is reached, how big it is, which secrets it
reads and how many instances it may run — and what each cloud needs from it. `make manifests`
(devtools/manifests.py) writes main.py, serverless.yml's functions and roles, the site's OpenAPI paths and
deploy/gcp.sh from it; a test fails when a committed file differs from what it would write."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Literal

from ttfd.registry import PLATFORM_FUNCTIONS, Registry

Kind = Literal["http", "site", "scheduled"]
Cloud = Literal["aws", "gcp"]

# Public paths of the two platform endpoints (the site's come from its routes).
PLATFORM_PATHS = {"discord_interactions": "/discord/interactions", "telegram_webhook": "/telegram/webhook"}
# Memory (MB) and timeout (s). Lambda's CPU grows with memory (1,769 MB = one vCPU): Discord must answer in
# 3 s even on a cold start, and Telegram imports aiogram. Scheduled work holds a transaction for up to
# db.BACKGROUND_TIMEOUT_S (120 s) while it calls APIs.
SIZES: dict[str, tuple[int, int]] = {
    "discord_interactions": (1024, 10),
    "telegram_webhook": (1769, 25),  # its deadline is 20 s; API Gateway waits 30 s at most
    "api_profile": (1024, 10),  # draws rank cards
}
DEFAULT_SIZES: dict[Kind, tuple[int, int]] = {"http": (1024, 10), "site": (512, 10), "scheduled": (512, 150)}

# Settings kept secret, in groups: each group is one Secrets Manager secret `secret_name(stage, group)` (a JSON
# object of strings) and, on Google Cloud, one Secret Manager secret per setting (`gcp_secret`). A function
# reads only its groups (FunctionSpec.secrets): its IAM role or service account can read nothing else.
SECRET_GROUPS: dict[str, tuple[str, ...]] = {
    "database": ("DATABASE_URL",),
    # The key that signs buttons and menus: one value for every function that draws or reads them (without
    # it each would derive its key from whichever bot tokens it holds, and the keys would differ).
    "actions": ("ACTIONS_SECRET",),
    "discord": ("DISCORD_BOT_TOKEN",),
    "telegram": ("TELEGRAM_BOT_TOKEN",),
    "telegram_webhook": ("TELEGRAM_WEBHOOK_SECRET",),
    # Every site function: the CDN's header (and the previous value while it is rotated), CloudFront's too.
    "edge": ("EDGE_SECRET", "EDGE_SECRET_PREVIOUS"),
    # The site functions that read or write a session: the cookie's key (and the previous one while rotated).
    "session": ("SESSION_SECRET", "SESSION_SECRET_PREVIOUS"),
    "discord_login": ("DISCORD_CLIENT_SECRET",),  # the OAuth2 code exchange: auth_discord_callback only
    "health": ("HEALTH_TOKEN",),  # the bearer token that shows the health report's detail
    "scheduler": ("SCHEDULER_SECRET",),  # Google Cloud only: on AWS nothing but EventBridge reaches a schedule
    # The VPN store: where its panel is and how orders are paid (not secret, but kept with the deploy's
    # settings), and the panel's password or API token (only what talks to the panel reads those).
    "vpn": (
        "VPN_PANEL_URL",
        "VPN_PANEL_USERNAME",
        "VPN_PANEL_API",
        "VPN_INBOUND_ID",
        "VPN_LINK_HOST",
        "VPN_SUB_URL",
        "VPN_METHODS",
        "VPN_PROOF_DAYS",
        "VPN_ORDER_HOURS",
        "VPN_HEALTH_FAILURES",
        "VPN_CHANNEL_HOURS",
    ),
    "vpn_panel": ("VPN_PANEL_PASSWORD", "VPN_PANEL_TOKEN"),
}
# Groups only one cloud has. Settings only AWS reads: Google Cloud restricts the site's ingress to its load
# balancer instead of checking an edge header, and a rotation's previous value is a field of an AWS secret.
GROUP_CLOUDS: dict[str, tuple[Cloud, ...]] = {"scheduler": ("gcp",), "edge": ("aws",)}
AWS_ONLY = ("EDGE_SECRET", "EDGE_SECRET_PREVIOUS", "SESSION_SECRET_PREVIOUS")
SECRETS = tuple(s for names in SECRET_GROUPS.values() for s in names)
# Not secret: plain environment variables (the template's params, the gcloud script's environment).
PLAIN = ("DISCORD_PUBLIC_KEY", "DISCORD_APPLICATION_ID", "DISCORD_CLIENT_ID", "SITE_URL", "TELEGRAM_BOT_USERNAME")
# Plain settings with a default (ttfd.core.settings.Settings'): passed on when set.
PLAIN_DEFAULTS = {"DEFAULT_LOCALE": "ru", "DAY_TZ": "UTC"}

# What each function reads, by the code it runs: Discord's moderation commands call its API inline; Telegram
# answers buttons and sends "working…" inline; run_jobs (which also turns events into jobs when woken) calls
# both APIs and draws buttons; poll_messages reads Discord channels; auth_telegram checks the Login Widget's
# signature with the bot token. The other schedules only touch the database (their API calls are jobs).
FUNCTION_SECRETS: dict[str, tuple[str, ...]] = {
    "discord_interactions": ("database", "actions", "discord", "vpn"),  # /pay's methods as it is typed
    "telegram_webhook": ("database", "actions", "telegram", "telegram_webhook"),
    "run_jobs": ("database", "actions", "discord", "telegram", "scheduler", "vpn", "vpn_panel"),
    "vpn_health": ("database", "scheduler", "vpn", "vpn_panel"),  # asks the panel
    "vpn_reconcile": ("database", "scheduler", "vpn", "vpn_panel"),
    "cleanup": ("database", "scheduler", "vpn"),  # VPN_PROOF_DAYS: when a payment's screenshot goes
    "poll_messages": ("database", "discord", "scheduler"),
    "auth_discord_callback": ("database", "edge", "session", "discord_login"),
    "auth_telegram": ("database", "edge", "session", "telegram"),
    "health": ("database", "edge", "health"),  # no session: it never reads a cookie
}
DEFAULT_SECRETS: dict[Kind, tuple[str, ...]] = {
    "http": ("database",),
    "site": ("database", "edge", "session"),
    "scheduled": ("database", "scheduler"),
}

# Reserved concurrency (AWS) and --max-instances (Google Cloud): what bounds the fleet, and with it the
# connections to the database pooler (each instance holds at most TTFD_POOL_SIZE). Their sum must stay within
# the account's concurrency quota minus the 100 Lambda keeps unreserved (a new account may need a raise).
TELEGRAM_MAX_CONNECTIONS = 10  # setWebhook's max_connections: Telegram never sends more updates at once
RESERVED: dict[str, int | None] = {
    "telegram_webhook": TELEGRAM_MAX_CONNECTIONS,
    # A burst of slash commands in a big server; more would only wait on the pooler past Discord's 3 s.
    "discord_interactions": 10,
    "run_jobs": 2,  # one run drains every due job (SKIP LOCKED); a second covers a wake-up during a tick
}
DEFAULT_RESERVED: dict[Kind, int] = {
    "http": 10,
    "site": 5,  # a page calls a few functions, each answering in tens of milliseconds
    "scheduled": 1,  # a tick that overlaps the previous one is throttled: the next tick catches up
}
# Why a function has no reserved concurrency (RESERVED[name] = None): none so far.
RESERVED_REASONS: dict[str, str] = {}
# Lambda keeps an asynchronous invocation it throttled (reserved concurrency reached) and retries it for up to
# six hours. Every scheduled function is invoked that way (EventBridge; run_jobs also by wake-ups), and a late
# tick or wake-up is worth nothing once the next tick ran: drop it after this (Lambda's minimum).
MAX_EVENT_AGE_S = 60

# HTTP API throttling per route (AWS), each route its own token bucket: requests per second and the burst
# above it, as deploy parameters with these defaults. Discord's and Telegram's webhooks get generous limits of
# their own (reserved concurrency bounds them anyway), so no flood of anonymous site requests can make API
# Gateway refuse them; the site's functions get a modest one, /health (uptime checks) a small one.
Throttle = Literal["webhook", "site", "health"]
THROTTLES: dict[Throttle, tuple[str, int, str, int]] = {  # class → (rate param, default, burst param, default)
    "webhook": ("webhookRate", 500, "webhookBurst", 1000),
    "site": ("apiRate", 50, "apiBurst", 100),
    "health": ("healthRate", 5, "healthBurst", 10),
}
THROTTLE_CLASS: dict[str, Throttle] = {"health": "health"}  # else webhook (http) or site
# Site functions that never queue work for run_jobs, so they need neither WAKE_FUNCTION nor the right to
# invoke it. A site function with only GET handlers reads; these are the others.
NEVER_WAKES = frozenset({"health"})


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    kind: Kind
    path: str | None  # public HTTP path in API Gateway syntax; None for scheduled functions
    cron: str | None  # five-field cron (UTC) for scheduled functions
    memory_mb: int
    timeout_s: int
    secrets: tuple[str, ...] = ()  # the SECRET_GROUPS it reads on some cloud (see secrets_on)
    reserved: int | None = None  # reserved concurrency (AWS), max instances (Google Cloud)
    reserved_reason: str = ""  # why there is no limit, when reserved is None
    # Whether it may invoke run_jobs after its commit (wake.after_request): an HTTP entrypoint whose request
    # may queue work (a deferred reply, a rank-up's events). Schedules leave theirs to the next tick.
    wakes: bool = False
    throttle: Throttle | None = None  # its route's HTTP API throttling class; None without a route
    max_event_age_s: int | None = None  # how long a throttled asynchronous invocation is kept (AWS)

    def secrets_on(self, cloud: Cloud) -> tuple[str, ...]:
        """Its groups that exist on `cloud`."""
        return tuple(g for g in self.secrets if cloud in GROUP_CLOUDS.get(g, (cloud,)))

    def settings_on(self, cloud: Cloud) -> tuple[str, ...]:
        """The secret settings it reads on `cloud`."""
        names = (s for g in self.secrets_on(cloud) for s in SECRET_GROUPS[g])
        return tuple(s for s in names if cloud == "aws" or s not in AWS_ONLY)

    @property
    def route_key(self) -> str | None:
        """Its HTTP API route (`POST /discord/interactions`); a site function answers 405 itself."""
        if self.path is None:
            return None
        return f"{'POST' if self.kind == 'http' else 'ANY'} {self.path}"

    @property
    def alarm_throttles(self) -> bool:
        """Whether a throttled invocation is lost work worth an alarm: a platform's webhook (Discord does not
        redeliver; Telegram's retries pile up). run_jobs' and the schedules' throttles are expected (an
        overlapping tick, a wake-up during a run), and a throttled page is retried by the person."""
        return self.kind == "http"


def secret_name(stage: str, group: str) -> str:
    """The Secrets Manager secret holding a group's settings."""
    if group not in SECRET_GROUPS:
        raise ValueError(f"unknown secret group {group!r}")
    return f"ttfd/{stage}/{group}"


def api_path(route_path: str) -> str:
    """A route's path in API Gateway syntax: a trailing `<ref>` takes the rest (`/api/profile/1/card.png`)."""
    return re.sub(r"<(\w+)>$", r"{\1+}", route_path)


def manifest(registry: Registry) -> list[FunctionSpec]:
    """Every deployable function, in the registry's order."""
    specs = []
    for name, kind in registry.functions.items():
        k: Kind = "http" if kind == "http" else "site" if kind == "site" else "scheduled"
        memory, timeout = SIZES.get(name, DEFAULT_SIZES[k])
        if name in PLATFORM_FUNCTIONS:
            path: str | None = PLATFORM_PATHS[name]
        elif k == "site":
            path = api_path(registry.routes[name].path)
        else:
            path = None
        cron = registry.schedules[name].cron if k == "scheduled" else None
        secrets = FUNCTION_SECRETS.get(name, DEFAULT_SECRETS[k])
        reserved = RESERVED[name] if name in RESERVED else DEFAULT_RESERVED[k]
        reason = RESERVED_REASONS.get(name, "")
        if reserved is None and not reason:
            raise ValueError(f"{name}: reserved concurrency needs a number or a stated reason")
        if k == "site":
            route = registry.routes[name]
            writes = route.serve is not None or bool(route.pages) or set(route.methods) - {"GET", "HEAD"}
            wakes = bool(writes) and name not in NEVER_WAKES
        else:
            wakes = k == "http"
        throttle: Throttle | None = (
            None if path is None else THROTTLE_CLASS.get(name, "webhook" if k == "http" else "site")
        )
        age = MAX_EVENT_AGE_S if k == "scheduled" else None
        specs.append(
            FunctionSpec(name, k, path, cron, memory, timeout, secrets, reserved, reason, wakes, throttle, age)
        )
    return specs


def aws_schedule(cron: str) -> str:
    """EventBridge's form of a five-field cron: six fields with a year, and `?` in one of the two day fields."""
    minute, hour, dom, month, dow = cron.split()
    if cron == "* * * * *":
        return "rate(1 minute)"
    if dow != "*" and dom != "*":
        raise ValueError(f"EventBridge cannot express both a day of month and a day of week: {cron}")
    if dow != "*":
        raise ValueError(f"day-of-week schedules need EventBridge's SUN-SAT names; not used yet: {cron}")
    return f"cron({minute} {hour} {dom} {month} ? *)"


# --- Google Cloud ----------------------------------------------------------------------------------------

GCP_RUNTIME = "python312"
GCP_APIS = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",  # where Cloud Build keeps each function's image
    "secretmanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "iam.googleapis.com",
)
GCP_POOL_SIZE = 4  # = --concurrency: an instance serves four requests at once, each with its connection


_SHELL_SAFE = re.compile(r"[A-Za-z0-9@._:-]*")  # written into the script as a default: nothing a shell expands


def gcp_secret(env: str) -> str:
    """The Secret Manager secret holding one setting."""
    return "ttfd-" + env.lower().replace("_", "-")


def gcp_account(function: str) -> str:
    """The account id of a function's runtime service account (6-30 characters: a-z, 0-9, -)."""
    account = "ttfd-" + function.replace("_", "-")
    if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account):
        raise ValueError(f"{function}: no valid service account id ({account!r}); shorten the function's name")
    return account


def gcp_script(
    registry: Registry, region: str | None = None, project: str | None = None, scheduler_account: str | None = None
) -> str:
    """deploy/gcp.sh: every function on Cloud Run functions (gen2), each with its own runtime service account
    that may read only its own secrets, and a Cloud Scheduler job per schedule. Safe to run again: accounts
    are created if missing, bindings are idempotent, deploys update, scheduler jobs are created or updated.
    Arguments become the defaults of REGION, PROJECT and SCHEDULER_SA (the committed script has none)."""
    q = shlex.quote
    for what, value in (("region", region), ("project", project), ("scheduler account", scheduler_account)):
        if value is not None and not _SHELL_SAFE.fullmatch(value):
            raise ValueError(f"{what} {value!r}: only letters, digits and @ . _ : - are allowed")
    specs = manifest(registry)
    needed = sorted({s for spec in specs for s in spec.settings_on("gcp")}, key=SECRETS.index)
    lines = [
        "#!/usr/bin/env bash",
        "# Generated by `make manifests` (devtools/manifests.py) from the feature registry: do not edit; the same",
        "# text is `python -m ttfd deploy gcp --print`. Deploys every function to Cloud Run functions (gen2).",
        "# Usage: PROJECT=my-project [REGION=europe-west1] bash deploy/gcp.sh, with the plain settings below",
        "# exported and each secret below created once in Secret Manager:",
        '#   printf %s VALUE | gcloud secrets create NAME --data-file=- --project="$PROJECT"',
        "set -euo pipefail",
        f'PROJECT="${{PROJECT:-{project or ""}}}"',
        ': "${PROJECT:?set PROJECT to the Google Cloud project id}"',
        f'REGION="${{REGION:-{region or "europe-west1"}}}"',
        f'SCHEDULER_SA="${{SCHEDULER_SA:-{scheduler_account or "ttfd-scheduler@${PROJECT}.iam.gserviceaccount.com"}}}"',
        *(f': "${{{v}:?set {v}}}"' for v in PLAIN),
        *(f'{k}="${{{k}:-{v}}}"' for k, v in PLAIN_DEFAULTS.items()),
        "",
        "# The plain settings as YAML for --env-vars-file, each value single-quoted ('' for a quote): a comma or a",
        "# space in a value stays in it (--set-env-vars would split on the comma and add a variable).",
        'ENV_FILE="$(mktemp)"',
        "trap 'rm -f \"$ENV_FILE\"' EXIT",
        "env_var() {",
        '  case "$2" in *$\'\\n\'*) echo "$1 must be one line" >&2; exit 1 ;; esac',
        '  local quote="\'"',
        '  printf "%s: \'%s\'\\n" "$1" "${2//$quote/$quote$quote}"',
        "}",
        "{",
        *(f'  env_var {v} "${v}"' for v in (*PLAIN, *PLAIN_DEFAULTS)),
        "  env_var FORWARDED_HOPS 2",
        f"  env_var TTFD_POOL_SIZE {GCP_POOL_SIZE}",
        '} >"$ENV_FILE"',
        "",
        'gcloud services enable --project="$PROJECT" \\',
        *(f"  {api} \\" for api in GCP_APIS[:-1]),
        f"  {GCP_APIS[-1]}",
        "",
        "# Each function runs as its own service account; created once, kept on a rerun.",
        "ensure_account() {",
        '  if ! gcloud iam service-accounts describe "$1@$PROJECT.iam.gserviceaccount.com" --project="$PROJECT" \\',
        "    >/dev/null 2>&1; then",
        '    gcloud iam service-accounts create "$1" --project="$PROJECT" --display-name="$2"',
        "  fi",
        "}",
        "# A function's account may read one secret (a binding per secret, not the project-wide role).",
        "grant_secret() {",
        '  gcloud secrets add-iam-policy-binding "$2" --project="$PROJECT" --condition=None \\',
        '    --member="serviceAccount:$1@$PROJECT.iam.gserviceaccount.com" \\',
        "    --role=roles/secretmanager.secretAccessor >/dev/null",
        "}",
        "missing=0",
        f"for secret in {' '.join(gcp_secret(s) for s in needed)}; do",
        '  if ! gcloud secrets describe "$secret" --project="$PROJECT" >/dev/null 2>&1; then',
        '    echo "missing secret $secret (gcloud secrets create $secret --data-file=-)" >&2',
        "    missing=1",
        "  fi",
        "done",
        '[ "$missing" = 0 ] || exit 1',
        "# Cloud Scheduler signs its calls as this account (one you name in SCHEDULER_SA is used as it is).",
        'if [ "$SCHEDULER_SA" = "ttfd-scheduler@$PROJECT.iam.gserviceaccount.com" ]; then',
        '  ensure_account ttfd-scheduler "TTFD Cloud Scheduler"',
        "fi",
        "",
    ]
    for spec in specs:
        account = gcp_account(spec.name)
        settings = spec.settings_on("gcp")
        public = spec.kind != "scheduled"
        lines += [f"# {spec.name}", f'ensure_account {account} "TTFD {spec.name}"']
        lines += [f"grant_secret {account} {gcp_secret(s)}" for s in settings]
        limit = [f"--max-instances={spec.reserved}"] if spec.reserved is not None else []
        lines += [
            f'gcloud functions deploy {spec.name} --gen2 --project="$PROJECT" --region="$REGION" \\',
            f"  --runtime={GCP_RUNTIME} --source=. --entry-point={spec.name} --trigger-http \\",
            f"  --memory={spec.memory_mb}Mi --timeout={spec.timeout_s}s --concurrency={GCP_POOL_SIZE} --cpu=1 \\",
            f"  {' '.join(['--min-instances=0', *limit])} \\",
            f'  --service-account="{account}@$PROJECT.iam.gserviceaccount.com" \\',
            '  --env-vars-file="$ENV_FILE" \\',
            f"  --set-secrets={','.join(f'{s}={gcp_secret(s)}:latest' for s in settings)} \\",
            # The site's functions are reached only through the load balancer (one origin, and the
            # X-Forwarded-For the rate limits trust); Discord and Telegram call theirs directly.
            "  --ingress-settings=internal-and-gclb \\" if spec.kind == "site" else "  --ingress-settings=all \\",
            "  --allow-unauthenticated" if public else "  --no-allow-unauthenticated",
        ]
        if spec.cron:
            where = '--gen2 --project="$PROJECT" --region="$REGION"'
            url = f"$(gcloud functions describe {spec.name} {where} --format='value(serviceConfig.uri)')"
            job = f'ttfd-{spec.name} --project="$PROJECT" --location="$REGION"'
            common = (
                f'    --schedule={q(spec.cron)} --time-zone=UTC --http-method=POST --uri="$URL" \\\n'
                '    --oidc-service-account-email="$SCHEDULER_SA" --oidc-token-audience="$URL" \\\n'
            )
            lines += [
                f'gcloud functions add-invoker-policy-binding {spec.name} --project="$PROJECT" --region="$REGION" \\',
                '  --member="serviceAccount:$SCHEDULER_SA" >/dev/null',
                f'URL="{url}"',
                'SECRET_HEADER="X-TTFD-Scheduler-Secret=$(gcloud secrets versions access latest'
                f' --secret={gcp_secret("SCHEDULER_SECRET")} --project="$PROJECT")"',
                f"if gcloud scheduler jobs describe {job} >/dev/null 2>&1; then",
                f"  gcloud scheduler jobs update http {job} \\",
                common + '    --update-headers="$SECRET_HEADER"',
                "else",
                f"  gcloud scheduler jobs create http {job} \\",
                common + '    --headers="$SECRET_HEADER"',
                "fi",
            ]
        lines.append("")
    return "\n".join(lines)


# --- AWS -----------------------------------------------------------------------------------------------


def aws_config_template(group: str | None = None) -> str:
    """The JSON kept in Secrets Manager as `secret_name(stage, group)`: that group's settings, empty (every
    group's, by group, without one)."""
    if group is not None:
        return json.dumps(dict.fromkeys(SECRET_GROUPS[group], ""), indent=2)
    aws = {g: dict.fromkeys(names, "") for g, names in SECRET_GROUPS.items() if "aws" in GROUP_CLOUDS.get(g, ("aws",))}
    return json.dumps(aws, indent=2)
