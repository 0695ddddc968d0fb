// Type declarations of the `fedwasm` package (browsers, bundlers and
// Node.js >= 20 share one API).

/** `auto`: a real GPU if there is one, else the CPU; `webgpu` fails without an adapter. */
export type BackendOption = 'auto' | 'webgpu' | 'cpu';

/** The backend that ran (or would run). `software`: a CPU backend or a WebGPU adapter emulated on the CPU. */
export interface BackendInfo {
  kind: 'webgpu' | 'cpu';
  adapter: string;
  software: boolean;
}

/**
 * Every error the package throws on purpose. `code` is stable:
 * the engine's (`shape`, `bad_data`, `limit`, `dataset`, `invalid_argument`,
 * `cancelled`, `diverged`, `refused`, `device_lost`, `backend_unavailable`,
 * `non_finite`, `state_not_assignable`, ...) or the glue's (`not_ready`,
 * `worker_lost`, `unsupported`, `io`, `internal`).
 */
export class FedwasmError extends Error {
  constructor(code: string, message: string, options?: { reason?: string; cause?: unknown });
  readonly name: 'FedwasmError';
  readonly code: string;
  /** For `refused` updates: why (`fingerprint`, `round`, `shape`, `weight`, ...). */
  readonly reason?: string;
}

/** Loads the engine (idempotent). Synchronous functions need it first. */
export function ready(options?: { wasmUrl?: string | URL }): Promise<void>;

/** The backend `backend` gives on this thread. */
export function backendInfo(options?: { backend?: BackendOption }): Promise<BackendInfo>;

/** The engine's version. */
export function version(): string;

/** Anything a LEAF/MovieLens/CSV source may be: text, bytes, a parsed JSON object, a Blob/File or a Response. */
export type Source = string | Uint8Array | ArrayBuffer | ArrayBufferView | Blob | Response | object;

export interface ElementSpec {
  xShape: number[];
  label: { classes: number } | 'real';
}

/** Federated data: each client id has its own examples (sorted ids). */
export class ClientData {
  private constructor();
  static fromLeaf(
    sources: Source | Source[],
    options?: { digitsOnly?: boolean; maxClients?: number; inkIsOne?: boolean },
  ): Promise<ClientData>;
  static fromMovieLens(text: Source, options?: { maxExamplesPerUser?: number }): Promise<ClientData>;
  static fromCsv(
    text: Source,
    options: {
      label: string | number;
      client?: string | number;
      features?: (string | number)[];
      classes?: number;
      header?: boolean;
      delimiter?: string;
    },
  ): Promise<ClientData>;
  static fromArrays(
    clients: Record<string, { x: Float32Array; y: Int32Array | Float32Array }>,
    options: { shape: number[]; classes?: number },
  ): Promise<ClientData>;
  static fromImages(
    files: Iterable<Blob | string | URL>,
    options?: {
      size?: number;
      classes?: number;
      labelFrom?: 'name' | ((file: Blob | string | URL, index: number) => number);
      clientFrom?: (file: Blob | string | URL, index: number) => string;
      invert?: boolean;
    },
  ): Promise<ClientData>;
  /** The FEMNIST digits embedded in the engine (10 writers). */
  static femnistDigits(options?: { split?: 'train' | 'test' }): Promise<ClientData>;
  /** A FEMNIST pack (the engine's `FWFEMDIG` format, as `www/data/` ships). */
  static fromFemnistPack(source: Source, options?: { split?: 'train' | 'test' }): Promise<ClientData>;
  /** Seeded synthetic ratings (one client per user). */
  static syntheticRatings(options?: {
    users?: number;
    items?: number;
    rank?: number;
    ratingsPerUser?: number;
    noise?: number;
    seed?: number;
  }): Promise<ClientData>;
  readonly clientIds: string[];
  readonly elementSpec: ElementSpec;
  /** Items of a ratings data set; undefined otherwise. */
  readonly numItems: number | undefined;
  numExamples(id: string): number;
  labelCounts(id: string): number[];
  examples(id: string, options?: { start?: number; count?: number }): { x: Float32Array; y: Float32Array };
  createDataset(id: string): Dataset;
  free(): void;
}

export type DatasetOp =
  | { op: 'repeat'; count: number }
  | { op: 'shuffle'; buffer: number; seed: number }
  | { op: 'batch'; size: number; drop_remainder: boolean }
  | { op: 'take'; count: number }
  | { op: 'skip'; count: number };

/** One client's examples and a lazy tf.data-style plan over them. */
export class Dataset {
  private constructor();
  readonly clientId: string;
  readonly plan: { ops: DatasetOp[] };
  repeat(count: number): Dataset;
  shuffle(buffer: number, options?: { seed?: number }): Dataset;
  batch(size: number, options?: { dropRemainder?: boolean }): Dataset;
  take(count: number): Dataset;
  skip(count: number): Dataset;
}

/** A model description the engine has checked. */
export class Model {
  private constructor();
  readonly name: string;
  readonly parameters: number;
  readonly inputShape: number[];
  toJSON(): object;
}

export const models: {
  softmaxRegression(options?: { inputs?: number; classes?: number }): Model;
  cnnDropout(options?: { classes?: number }): Model;
  matrixFactorization(options: { items: number; dim: number }): Model;
  fromSpec(spec: string | object): Model;
};

export type LearningRate =
  | number
  | { exponentialDecay: { initial: number; decayRate: number; decayRounds: number; staircase?: boolean } }
  | { inverseTimeDecay: { initial: number; decayRate: number; decayRounds: number; staircase?: boolean } };

/** An optimizer configuration (validated by the engine). */
export class Optimizer {
  private constructor();
  readonly name: 'sgd' | 'adam' | 'adagrad' | 'yogi' | 'rmsprop';
  toJSON(): object;
}

export const optimizers: {
  sgd(options?: { learningRate?: LearningRate; momentum?: number; nesterov?: boolean }): Optimizer;
  adam(options?: { learningRate?: LearningRate; beta1?: number; beta2?: number; epsilon?: number }): Optimizer;
  adagrad(options: { learningRate: LearningRate; initialAccumulatorValue?: number; epsilon?: number }): Optimizer;
  yogi(options: {
    learningRate: LearningRate;
    beta1?: number;
    beta2?: number;
    epsilon?: number;
    initialPreconditionerValue?: number;
  }): Optimizer;
  rmsprop(options?: { learningRate?: LearningRate; decay?: number; epsilon?: number }): Optimizer;
};

/** Options every builder takes. */
export interface ProcessOptions {
  model: Model;
  backend?: BackendOption;
  /** Where clients run: a WorkerPool, or null (default) for this thread. */
  pool?: WorkerPool | null;
  /** Batches between yields to the event loop (default 8; 0: never). */
  yieldEvery?: number;
  /** The least time between two yields, in ms (default 16, a frame; 0: exactly every `yieldEvery` batches). */
  yieldGapMs?: number;
}

export interface FedAvgOptions extends ProcessOptions {
  clientOptimizer?: Optimizer;
  serverOptimizer?: Optimizer;
  clientWeighting?: 'numExamples' | 'uniform';
  seed?: number;
}

export interface ReconstructionSplit {
  reconEpochs?: number;
  reconStepsMax?: number | null;
  postReconEpochs?: number;
  postReconStepsMax?: number | null;
  splitDataset?: boolean;
}

export const algorithms: {
  buildWeightedFedAvg(options: FedAvgOptions): LearningProcess;
  buildUnweightedFedAvg(options: Omit<FedAvgOptions, 'clientWeighting'>): LearningProcess;
  buildFedProx(options: FedAvgOptions & { proximalStrength: number }): LearningProcess;
  buildFedEval(options: ProcessOptions): LearningProcess;
  buildFedRecon(
    options: ProcessOptions & {
      clientOptimizer?: Optimizer;
      serverOptimizer?: Optimizer;
      reconstructionOptimizer?: Optimizer;
      clientWeighting?: 'numExamples' | 'uniform';
      split?: ReconstructionSplit;
      seed?: number;
    },
  ): LearningProcess;
  buildFedReconEval(
    options: ProcessOptions & { reconstructionOptimizer?: Optimizer; split?: ReconstructionSplit; seed?: number },
  ): LearningProcess;
  buildStatefulFedAvg(
    options: ProcessOptions & {
      clientOptimizer?: Optimizer;
      serverOptimizer?: Optimizer;
      localOptimizer?: Optimizer;
      clientWeighting?: 'numExamples' | 'uniform';
      seed?: number;
    },
  ): StatefulLearningProcess;
};

export interface NamedWeights {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface ModelWeights {
  trainable: NamedWeights[];
  nonTrainable: NamedWeights[];
}

/** A process's state between rounds. */
export class LearningProcessState {
  private constructor();
  static fromBytes(bytes: Uint8Array | ArrayBuffer): LearningProcessState;
  toBytes(): Uint8Array;
  readonly round: number;
}

export interface ClientProgress {
  phase: 'train' | 'evaluate' | 'reconstruct';
  batches: number;
  examples: number;
  /** Running mean loss of the phase (undefined on WebGPU: it would cost a read-back). */
  loss?: number;
}

export interface RoundProgress {
  round: number;
  clientsDone: number;
  clientsTotal: number;
  examples: number;
  examplesPerSecond: number;
  /** The client this event is about (its position in `datasets`). */
  client: number;
  clientProgress: ClientProgress | null;
  clientFinished: boolean;
}

export interface RoundOptions {
  signal?: AbortSignal;
  onProgress?: (event: RoundProgress) => void;
  yieldEvery?: number;
  yieldGapMs?: number;
}

/** TFF's round metrics, as nested plain objects (`client_work.train.loss`, ...). */
export interface RoundMetrics {
  distributor: Record<string, never>;
  client_work: {
    train?: Record<string, number>;
    eval?: { current_round_metrics: Record<string, number>; total_rounds_metrics: Record<string, number> };
    non_finite_updates?: number;
  };
  aggregator: unknown;
  finalizer: { update_non_finite?: number };
}

export interface RoundResult {
  state: LearningProcessState;
  metrics: RoundMetrics;
  /** The backend(s) the clients ran on (null for a round of no clients). */
  backend: BackendInfo | BackendInfo[] | null;
}

export class LearningProcess {
  private constructor();
  readonly name: string;
  readonly isStateful: boolean;
  readonly backend: BackendOption;
  readonly pool: WorkerPool | null;
  readonly spec: object;
  initialize(): Promise<LearningProcessState>;
  next(state: LearningProcessState, datasets: Dataset[], options?: RoundOptions): Promise<RoundResult>;
  getModelWeights(state: LearningProcessState): ModelWeights;
  setModelWeights(state: LearningProcessState, weights: ModelWeights): LearningProcessState;
  initialClientState(index: number): Promise<Uint8Array>;
}

/** A stateful process (seed 003): clients' states go in and come back out. */
export interface StatefulLearningProcess extends Omit<LearningProcess, 'next'> {
  next(
    state: LearningProcessState,
    datasets: Dataset[],
    clientStates?: Uint8Array[],
    options?: RoundOptions,
  ): Promise<RoundResult & { clientStates: Uint8Array[] }>;
}

/** Web Workers (browsers) or worker_threads (Node.js), one engine and one backend each. */
export class WorkerPool {
  private constructor();
  static create(options?: {
    size?: number;
    wasmUrl?: string | URL;
    heartbeatTimeoutMs?: number;
    maxAttempts?: number;
  }): Promise<WorkerPool>;
  readonly size: number;
  readonly replacedWorkers: number;
  close(): void;
  /** Fault drills: kills worker `index` now (it is replaced and its client rerun). */
  crashWorker(index: number): void;
}

/** `n` distinct ids of `ids`, drawn from `(seed, round)`. */
export function sampleClients(ids: string[], n: number, options?: { seed?: number; round?: number }): string[];

/** Where a client keeps its local variables (bytes by key). */
export interface ClientStorage {
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, bytes: Uint8Array): Promise<void>;
}

/** This page or process only. */
export function memoryStorage(): ClientStorage & { readonly kind: 'memory' };
/** IndexedDB database `name` (browsers; default `fedwasm`). */
export function indexedDbStorage(name?: string): ClientStorage & { readonly kind: 'indexeddb' };

export interface ConnectOptions {
  /** This client's token (from the coordinator's task file). */
  token: string;
  /** The client's examples. */
  data: ClientData;
  /** Its held-out examples, for evaluation tasks (default: `data`). */
  testData?: ClientData;
  /** Which client of `data` this is (default: its only one). */
  clientId?: string;
  backend?: BackendOption;
  /** A directory (Node.js), an IndexedDB name (browsers), false (keep nothing) or a ClientStorage. */
  storage?: string | false | ClientStorage;
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; maxAttempts?: number };
  yieldEvery?: number;
  yieldGapMs?: number;
  /** A WebSocket class (default: the platform's; `ws` in Node.js). */
  WebSocket?: unknown;
  /** A name the coordinator may log. */
  name?: string;
}

/** The coordinator's welcome. */
export interface Welcome {
  protocol: number;
  clientKey: number;
  taskId: string;
  algorithm: string;
  modelSpec: string;
  keepsLocals: boolean;
  round: number;
  rounds: number;
  done: boolean;
  fingerprint: bigint;
}

export interface ClientEvents {
  connect: { url: string; attempt: number };
  welcome: Welcome;
  roundstart: { round: number; task: number; deadline: number; kind: 'train' | 'evaluate' };
  progress: { round: number; phase: string; batches: number; examples: number; loss?: number };
  report: { round: number; task: number; bytes: number; backend: BackendInfo };
  accepted: { round: number; task: number };
  roundclosed: { task: number; reason: string };
  error: { error: FedwasmError };
  disconnect: { code: number; reason: string; willReconnect: boolean; delayMs?: number };
  done: { rounds: number };
}

/** A client joined to a coordinator (`connect`). */
export class FederatedClient {
  private constructor();
  readonly state: 'connecting' | 'waiting' | 'training' | 'reporting' | 'done' | 'closed';
  readonly welcome: Welcome | null;
  readonly reports: number;
  readonly done: Promise<{ rounds: number; reports: number }>;
  on<K extends keyof ClientEvents>(event: K, listener: (detail: ClientEvents[K]) => void): () => void;
  localState(): Promise<Uint8Array | undefined>;
  close(): void;
}

/** Joins the coordinator at `url` (ws:// or wss://). */
export function connect(url: string | URL, options: ConnectOptions): FederatedClient;

/** A directory (Node.js only: `import { directoryStorage } from 'fedwasm'` there). */
export function directoryStorage(dir: string): ClientStorage & { readonly kind: 'directory'; readonly dir: string };
