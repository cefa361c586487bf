/**
 * Flags of both modes: the mode itself, help and version, our logging flags,
 * and the klog flags that upstream binaries get and real manifests pass.
 * klog flags are mapped onto our logger where that makes sense
 * (logging-options.ts); the rest are accepted with a warning.
 */
import type { FlagSpec } from './flag-spec.js';

export const MODE_FLAG: FlagSpec = {
  name: 'mode',
  kind: 'string',
  def: '',
  group: 'mode',
  doc: 'server or agent (required). grpc and http-connect mean server, as in upstream proxy-server; the server always serves both protocols on its frontend.',
};

export const COMMON_FLAGS: readonly FlagSpec[] = [
  MODE_FLAG,
  { name: 'help', short: 'h', kind: 'bool', def: 'false', group: 'mode', doc: 'Print this help and exit.' },
  { name: 'version', kind: 'bool', def: 'false', group: 'mode', doc: 'Print the version and exit.' },
  {
    name: 'log-level',
    kind: 'string',
    def: 'info',
    group: 'logging',
    doc: 'error, warn, info or debug. Wins over -v.',
  },
  {
    name: 'log-format',
    kind: 'string',
    def: 'json',
    group: 'logging',
    doc: 'json (one object per line) or text.',
  },
  // klog flags, mapped
  {
    name: 'v',
    short: 'v',
    kind: 'int',
    def: '0',
    group: 'logging',
    doc: 'klog verbosity: 0-1 logs at info, 2 and above at debug (unless --log-level is given).',
  },
  {
    name: 'logtostderr',
    kind: 'bool',
    def: 'true',
    group: 'logging',
    doc: 'Log to stderr. false with --log-file writes the log to that file instead.',
  },
  {
    name: 'alsologtostderr',
    kind: 'bool',
    def: 'false',
    group: 'logging',
    doc: 'With --logtostderr=false, write every line to stderr as well as to --log-file.',
  },
  {
    name: 'log-file',
    kind: 'string',
    def: '',
    group: 'logging',
    doc: 'Log file, used when --logtostderr=false.',
  },
  {
    name: 'log-file-max-size',
    kind: 'int',
    def: '1800',
    group: 'logging',
    doc: 'Size in MB at which --log-file is rotated (0 = no limit).',
  },
  {
    name: 'stderrthreshold',
    kind: 'string',
    def: '2',
    group: 'logging',
    doc: 'With --logtostderr=false, lines at or above this severity also go to stderr: INFO (0), WARNING (1), ERROR (2) or FATAL (3).',
  },
  // klog flags, accepted only
  {
    name: 'log-dir',
    kind: 'string',
    def: '',
    group: 'compat',
    doc: 'klog: directory of per-severity log files. Use --log-file.',
    ignored: 'use --log-file with --logtostderr=false',
  },
  {
    name: 'vmodule',
    kind: 'string',
    def: '',
    group: 'compat',
    doc: 'klog: per-file verbosity.',
    ignored: 'verbosity is set for the whole process with --log-level or -v',
  },
  {
    name: 'skip-headers',
    kind: 'bool',
    def: 'false',
    group: 'compat',
    doc: 'klog: omit line headers.',
    ignored: 'lines are structured (--log-format), there is no klog header',
  },
  {
    name: 'skip-log-headers',
    kind: 'bool',
    def: 'false',
    group: 'compat',
    doc: 'klog: omit headers of log files.',
    ignored: 'log files have no header',
  },
  {
    name: 'add-dir-header',
    kind: 'bool',
    def: 'false',
    group: 'compat',
    doc: 'klog: add the source directory to line headers.',
    ignored: 'lines carry no source location',
  },
  {
    name: 'log-backtrace-at',
    kind: 'string',
    def: ':0',
    group: 'compat',
    doc: 'klog: print a stack trace when logging at file:line.',
    ignored: 'lines carry no source location',
  },
  {
    name: 'one-output',
    kind: 'bool',
    def: 'false',
    group: 'compat',
    doc: 'klog: write each line only to its own severity file.',
    ignored: 'each line is written once already',
  },
  {
    name: 'legacy-stderr-threshold-behavior',
    kind: 'bool',
    def: 'true',
    group: 'compat',
    doc: 'klog: whether --stderrthreshold applies when logging to stderr.',
    ignored: '--stderrthreshold applies only with --logtostderr=false',
  },
];
