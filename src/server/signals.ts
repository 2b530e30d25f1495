// CRI's Signal enum ↔ the stop signal a container record keeps (a name runc
// understands, or a number for the real-time signals, which runc knows only
// by number).
import type { Signal__Output } from '../cri/generated/runtime/v1/Signal.js';
import { Signal } from '../cri/generated/runtime/v1/Signal.js';
import { enumValue } from './validate.js';

// glibc's SIGRTMIN and SIGRTMAX on Linux (the kernel's 32 and 33 are taken by the C library).
const RTMIN = 34;
const RTMAX = 64;

// Names CRI spells differently from the one runc and the image config use.
const ALIASES: Record<string, string> = { SIGCLD: 'SIGCHLD', SIGIOT: 'SIGABRT', SIGPOLL: 'SIGIO' };

const NAMES = Object.keys(Signal).filter((k) => k.startsWith('SIGNAL_')) as Signal__Output[];

/** The signal `SIGNAL_X` stands for, as the container record keeps it; '' for the runtime's default. */
function toRecord(v: Signal__Output): string {
  if (v === 'SIGNAL_RUNTIME_DEFAULT') return '';
  const name = v.slice('SIGNAL_'.length);
  let m: RegExpExecArray | null;
  if (name === 'SIGRTMIN') return String(RTMIN);
  if (name === 'SIGRTMAX') return String(RTMAX);
  if ((m = /^SIGRTMINPLUS(\d+)$/.exec(name))) return String(RTMIN + Number(m[1]));
  if ((m = /^SIGRTMAXMINUS(\d+)$/.exec(name))) return String(RTMAX - Number(m[1]));
  return ALIASES[name] ?? name;
}

const BACK = new Map<string, Signal__Output>();
for (const n of NAMES) if (!BACK.has(toRecord(n))) BACK.set(toRecord(n), n);

/** config.stop_signal: one of the enum's values (an unknown number is refused). */
export function stopSignal(field: string, v: unknown): string {
  return toRecord(enumValue(field, v, NAMES));
}

/** A recorded stop signal (from the request or the image) as the enum reports it; RUNTIME_DEFAULT when it has no member. */
export function criStopSignal(recorded: string): Signal__Output {
  return BACK.get(recorded) ?? BACK.get(ALIASES[recorded] ?? '') ?? 'SIGNAL_RUNTIME_DEFAULT';
}
