// OpenTelemetry tracing: a span per CRI call and child spans for the slow
// steps (image pull, runtime create and start, pod network setup), exported
// over OTLP/HTTP when tracing.otlp_endpoint is set. Off by default, and then
// free: no provider, no context manager, and `span()` calls the function
// directly without touching the OpenTelemetry API. The OpenTelemetry modules
// are loaded only when tracing is on (they cost ~150 ms of startup).
import type { Span, Tracer, Attributes } from '@opentelemetry/api';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

type Api = typeof import('@opentelemetry/api');
let api: Api | undefined;
let tracer: Tracer | undefined;

export interface TracingOptions {
  endpoint: string;
  sampleRatio: number;
  version: string;
  /** Delay between batch exports (ms); shorter in tests. */
  exportDelayMs?: number;
}

/** `http://host:4318` → `http://host:4318/v1/traces`; a URL with a path is used as given. */
export function tracesUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/traces';
  return u.toString();
}

export class Tracing {
  private constructor(private readonly provider: BasicTracerProvider, private readonly cm: AsyncLocalStorageContextManager) {}

  /** Starts tracing when an endpoint is configured; undefined (tracing off) otherwise. */
  static async start(o: TracingOptions): Promise<Tracing | undefined> {
    if (!o.endpoint) return undefined;
    const [otel, { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler }, { OTLPTraceExporter }, { resourceFromAttributes }, { AsyncLocalStorageContextManager }] = await Promise.all([
      import('@opentelemetry/api'), import('@opentelemetry/sdk-trace-base'), import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'), import('@opentelemetry/context-async-hooks'),
    ]);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'berthd', 'service.version': o.version }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(o.sampleRatio) }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(o.endpoint) }), { scheduledDelayMillis: o.exportDelayMs ?? 5000 })],
    });
    const cm = new AsyncLocalStorageContextManager().enable();
    otel.context.setGlobalContextManager(cm);
    otel.trace.setGlobalTracerProvider(provider);
    api = otel;
    tracer = provider.getTracer('berth', o.version);
    return new Tracing(provider, cm);
  }

  /** Flushes what is buffered and stops exporting. */
  async stop(): Promise<void> {
    tracer = undefined;
    await this.provider.forceFlush().catch(() => undefined);
    await this.provider.shutdown().catch(() => undefined);
    api?.trace.disable();
    api?.context.disable();
    this.cm.disable();
    api = undefined;
  }
}

// SpanStatusCode.ERROR and SpanKind.SERVER, without loading the API module when off.
const STATUS_ERROR = 2;
const KIND_SERVER = 1;

function end(s: Span, err?: unknown): void {
  if (err !== undefined) {
    s.recordException(err instanceof Error ? err : String(err));
    s.setStatus({ code: STATUS_ERROR, message: err instanceof Error ? err.message : String(err) });
  }
  s.end();
}

/** Runs `fn` inside a child span of the current one; just `fn()` when tracing is off. */
export function span<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  const t = tracer;
  if (!t) return fn();
  return t.startActiveSpan(name, { attributes }, async (s) => {
    try {
      const v = await fn();
      end(s);
      return v;
    } catch (err) {
      end(s, err);
      throw err;
    }
  });
}

/**
 * The span of one CRI call: started by the gRPC edge, ended with the call's
 * gRPC code. Returns undefined (and costs nothing) when tracing is off.
 */
export function startCallSpan(method: string): { run<T>(fn: () => T): T; finish(code: string, ok: boolean, details?: string): void } | undefined {
  const t = tracer;
  const otel = api;
  if (!t || !otel) return undefined;
  const [service, rpc] = method.split('/');
  const s = t.startSpan(`cri ${method}`, {
    kind: KIND_SERVER,
    attributes: { 'rpc.system': 'grpc', 'rpc.service': `runtime.v1.${service}`, 'rpc.method': rpc ?? method },
  });
  const ctx = otel.trace.setSpan(otel.context.active(), s);
  return {
    run: (fn) => otel.context.with(ctx, fn),
    finish(code, ok, details) {
      s.setAttribute('rpc.grpc.status_code', code);
      if (!ok) s.setStatus({ code: STATUS_ERROR, message: details ?? code });
      s.end();
    },
  };
}
