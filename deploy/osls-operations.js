'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
// An osls plugin (serverless.yml `plugins:`) for what depends on the list of functions, so it follows the
// generated `functions:` block instead of being kept by hand beside it:
// - one "stale schedule" alarm per scheduled function: no `ScheduleSuccess` (namespace TTFD, dimension
//   schedule=<function>) within three of its intervals, missing data counting as breaching, so a schedule
//   that stops running at all (rule disabled, every run failing, the function throttled) raises it;
// - every log group the stack makes is kept when the stack is deleted or the group replaced;
// - the HTTP API stage waits for every route its RouteSettings name (throttling per route, generated from the
//   registry): API Gateway refuses settings for a route that does not exist yet ("Unable to find Route by
//   key"), and a key that matches no route at all stops the package here instead of the deploy.
// It runs while the template is finalised (after resources: are merged), offline, in `package` and `deploy`.
// Once the zip is built (sources, then the requirements plugin's packages), it also adds our own bytecode,
// compiled from the zip's sources by the runtime's Python (devtools/bytecode.py): Lambda's read-only code
// directory would otherwise have every cold start compile every module it imports.

const STALE_AFTER_TICKS = 3; // a skipped tick (an overlapping run, one database blip) is not an alarm
const MIN_WINDOW_S = 600;
const DAY_S = 86400;

// Seconds between two runs of an EventBridge schedule expression; the shortest gap for a cron.
function intervalSeconds(expression) {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const unit = rate[2].startsWith('minute') ? 60 : rate[2].startsWith('hour') ? 3600 : DAY_S;
    return Number(rate[1]) * unit;
  }
  const cron = /^cron\((\S+) (\S+) \S+ \S+ \S+ \S+\)$/.exec(expression);
  if (!cron) throw new Error(`osls-operations: cannot read the schedule ${expression}`);
  const every = (field, unit) =>
    field === '*' ? unit : /^\*\/(\d+)$/.test(field) ? Number(field.slice(2)) * unit : null;
  const minute = every(cron[1], 60);
  if (minute !== null && cron[2] === '*') return minute;
  if (/^\d+$/.test(cron[1])) {
    const hour = every(cron[2], 3600);
    if (hour !== null) return hour;
  }
  return DAY_S; // a fixed hour or rarer: alarm on a day without a run
}

function pascal(name) {
  return name
    .split(/[^A-Za-z0-9]+/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

class OperationsPlugin {
  constructor(serverless, options, utils) {
    this.serverless = serverless;
    this.log = utils && utils.log;
    this.hooks = {
      'after:aws:package:finalize:mergeCustomProviderResources': () => this.finalize(),
      // After serverless-python-requirements' hook of the same name (listed before this plugin).
      'after:package:createDeploymentArtifacts': () => this.addBytecode(),
    };
  }

  addBytecode() {
    const service = this.serverless.service;
    const dir = this.serverless.serviceDir;
    const zip = path.resolve(dir, service.package.artifact || path.join('.serverless', `${service.service}.zip`));
    if (!fs.existsSync(zip)) throw new Error(`osls-operations: no package at ${zip} to add bytecode to`);
    const version = /^python(\d+\.\d+)$/.exec(service.provider.runtime);
    if (!version) throw new Error(`osls-operations: not a Python runtime: ${service.provider.runtime}`);
    const python = (service.custom.pythonRequirements || {}).pythonBin || `python${version[1]}`;
    const run = spawnSync(python, ['-m', 'devtools.bytecode', zip, version[1]], { cwd: dir, encoding: 'utf8' });
    if (run.error || run.status !== 0) {
      throw new Error(`osls-operations: bytecode: ${run.error || ''}${run.stderr || ''}${run.stdout || ''}`);
    }
    if (this.log) this.log.info(run.stdout.trim());
  }

  finalize() {
    const service = this.serverless.service;
    const resources = service.provider.compiledCloudFormationTemplate.Resources;
    for (const resource of Object.values(resources)) {
      if (resource.Type === 'AWS::Logs::LogGroup') {
        resource.DeletionPolicy = 'Retain';
        resource.UpdateReplacePolicy = 'Retain';
      }
    }
    this.stageWaitsForRoutes(resources);
    const notify = { 'Fn::If': ['HasAlarmEmail', [{ Ref: 'AlarmTopic' }], { Ref: 'AWS::NoValue' }] };
    for (const [name, fn] of Object.entries(service.functions || {})) {
      for (const event of fn.events || []) {
        if (!event.schedule) continue;
        const expression = typeof event.schedule === 'string' ? event.schedule : event.schedule.rate[0];
        const window = Math.max(MIN_WINDOW_S, STALE_AFTER_TICKS * intervalSeconds(expression));
        const period = Math.min(window, DAY_S);
        resources[`StaleSchedule${pascal(name)}Alarm`] = {
          Type: 'AWS::CloudWatch::Alarm',
          Properties: {
            AlarmName: { 'Fn::Sub': `\${AWS::StackName}-stale-${name}` },
            AlarmDescription: `schedule ${name} (${expression}) has not completed a run in ${window / 60} minutes`,
            Namespace: 'TTFD',
            MetricName: 'ScheduleSuccess',
            Dimensions: [{ Name: 'schedule', Value: name }],
            Statistic: 'Sum',
            Period: period,
            EvaluationPeriods: Math.min(7, Math.ceil(window / period)),
            ComparisonOperator: 'LessThanThreshold',
            Threshold: 1,
            TreatMissingData: 'breaching',
            AlarmActions: notify,
          },
        };
      }
    }
  }
}

OperationsPlugin.prototype.stageWaitsForRoutes = function stageWaitsForRoutes(resources) {
  const stage = resources.HttpApiStage;
  const settings = (stage && stage.Properties.RouteSettings) || {};
  const routes = {};
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type === 'AWS::ApiGatewayV2::Route') routes[resource.Properties.RouteKey] = id;
  }
  const unknown = Object.keys(settings).filter((key) => !routes[key]);
  if (unknown.length) {
    throw new Error(`osls-operations: RouteSettings name routes the API does not have: ${unknown.join(', ')}`);
  }
  const waits = Object.keys(settings).map((key) => routes[key]);
  if (!waits.length) return;
  const before = stage.DependsOn === undefined ? [] : [].concat(stage.DependsOn);
  stage.DependsOn = [...new Set([...before, ...waits])];
};

module.exports = OperationsPlugin;
module.exports.intervalSeconds = intervalSeconds;
