// OpenTelemetry tracing: a span per CRI call and child spans for the slow
// steps (image pull, runtime create and start, pod network setup), exported
// over OTLP/HTTP when tracing.otlp_endpoint is set. Off by default, and then
// free: no provider, no context manager, and `span()` calls the function
// directly without touching the OpenTelemetry API.
import { context, trace, SpanKind, SpanStatusCode, type Span, type Tracer, type Attributes } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

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
  static start(o: TracingOptions): Tracing | undefined {
    if (!o.endpoint) return undefined;
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'berthd', 'service.version': o.version }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(o.sampleRatio) }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(o.endpoint) }), { scheduledDelayMillis: o.exportDelayMs ?? 5000 })],
    });
    const cm = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(cm);
    trace.setGlobalTracerProvider(provider);
    tracer = provider.getTracer('berth', o.version);
    return new Tracing(provider, cm);
  }

  /** Flushes what is buffered and stops exporting. */
  async stop(): Promise<void> {
    tracer = undefined;
    await this.provider.forceFlush().catch(() => undefined);
    await this.provider.shutdown().catch(() => undefined);
    trace.disable();
    context.disable();
    this.cm.disable();
  }
}

export function tracingEnabled(): boolean {
  return tracer !== undefined;
}

function end(s: Span, err?: unknown): void {
  if (err !== undefined) {
    s.recordException(err instanceof Error ? err : String(err));
    s.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
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
  if (!t) return undefined;
  const [service, rpc] = method.split('/');
  const s = t.startSpan(`cri ${method}`, {
    kind: SpanKind.SERVER,
    attributes: { 'rpc.system': 'grpc', 'rpc.service': `runtime.v1.${service}`, 'rpc.method': rpc ?? method },
  });
  const ctx = trace.setSpan(context.active(), s);
  return {
    run: (fn) => context.with(ctx, fn),
    finish(code, ok, details) {
      s.setAttribute('rpc.grpc.status_code', code);
      if (!ok) s.setStatus({ code: SpanStatusCode.ERROR, message: details ?? code });
      s.end();
    },
  };
}
