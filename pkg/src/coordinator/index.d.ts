// Types of `fedwasm/coordinator` (Node.js only).
import type { LearningProcess } from '../index.js';

/** A task file's JSON (pkg/PROTOCOL.md, "Task file"). */
export interface TaskFile {
  model: { builtin: 'softmaxRegression' | 'cnnDropout' | 'matrixFactorization'; options?: Record<string, unknown> } | { spec: object | string };
  algorithm: 'weightedFedAvg' | 'unweightedFedAvg' | 'fedProx' | 'fedRecon';
  rounds: number;
  clientsPerRound: number;
  overSelection?: number;
  minReports: number;
  reportDeadlineSeconds: number;
  selectionTimeoutSeconds?: number;
  clientOptimizer?: OptimizerConfig;
  serverOptimizer?: OptimizerConfig;
  reconstructionOptimizer?: OptimizerConfig;
  clientWeighting?: 'numExamples' | 'uniform';
  proximalStrength?: number;
  split?: { reconEpochs?: number; reconStepsMax?: number | null; postReconEpochs?: number; postReconStepsMax?: number | null; splitDataset?: boolean };
  preprocessing?: { epochs?: number; shuffleBuffer?: number; shuffleSeed?: number; batchSize?: number; dropRemainder?: boolean; maxBatches?: number | null };
  seed?: number;
  tokens?: string[];
  tokensFile?: string;
  evaluation?: { every: number; clientsPerRound?: number; minReports?: number; reportDeadlineSeconds?: number };
  limits?: { messageBytes?: number; updateNorm?: number | null; connections?: number; concurrentUploads?: number };
  description?: string;
}

export interface OptimizerConfig {
  name: 'sgd' | 'adam' | 'adagrad' | 'yogi' | 'rmsprop';
  learningRate?: number;
  [option: string]: unknown;
}

export interface RoundRecord {
  round: number;
  metrics: any;
  startedAt: string;
  seconds: number;
  selected: number;
  reported: number;
  refused: number;
  dropped: number;
  attempts: number;
  closedBy: string;
  checkpointBytes?: number;
  /** The federated evaluation after this round (task field `evaluation`). */
  evaluation?: { metrics: any; startedAt: string; seconds: number; selected: number; reported: number; refused: number; dropped: number; attempts: number; closedBy: string } | { abandoned: true; attempts: number; why: string };
}

export interface Status {
  protocol: number;
  task: { id: string; algorithm: string; model: string; rounds: number; clientsPerRound: number; selected: number; minReports: number; reportDeadlineSeconds: number };
  phase: 'starting' | 'selecting' | 'training' | 'evaluating' | 'closing' | 'done' | 'failed';
  failure: string | null;
  round: number;
  uptimeSeconds: number;
  clients: { connected: number; authenticating: number; waiting: number; selected: number; idle: number };
  current: null | { kind: 'train' | 'evaluate'; round: number; attempt: number; startedAt: string; deadline: string; secondsLeft: number; selected: number; reported: number; refused: number; dropped: number; training: { client: number; examples: number }[] };
  lastAbandoned: null | { kind: 'train' | 'evaluate'; round: number; attempt: number; why: string; reported: number; dropped: number; refused: number };
  refusals: Record<string, number>;
  history: RoundRecord[];
}

export class Coordinator {
  readonly done: Promise<{ round: number; history: RoundRecord[]; error?: unknown }>;
  readonly round: number;
  readonly history: RoundRecord[];
  readonly state: Uint8Array | null;
  status(): Status;
  stop(): void;
}

export interface ServeOptions {
  /** A task file's path, or its JSON. */
  task: string | TaskFile;
  host?: string;
  /** 0: any free port. Default 8787. */
  port?: number;
  /** Where checkpoints go (none when omitted). */
  stateDir?: string | null;
  tlsCert?: string;
  tlsKey?: string;
  log?: (line: string) => void;
  /** The aggregator module to use (default: `loadAggregator()` of `fedwasm/aggregator`). */
  aggregator?: object;
  /** How often every connection is pinged, in ms (default 15000); three pings unanswered in a row close it. */
  heartbeatMs?: number;
}

export interface Server {
  url: string;
  statusUrl: string;
  port: number;
  coordinator: Coordinator;
  /** Resolves when every round is complete, or the coordinator stopped or failed (`error`). */
  done: Promise<{ round: number; history: RoundRecord[]; error?: unknown }>;
  close(): Promise<void>;
}

/** Starts a coordinator and its HTTP(S) + WebSocket server. */
export function serve(options: ServeOptions): Promise<Server>;

/** A checked task (from a task file's JSON). */
export interface ParsedTask {
  process: LearningProcess;
  algorithm: string;
  rounds: number;
  clientsPerRound: number;
  selectCount: number;
  minReports: number;
  fingerprint: string;
  [field: string]: unknown;
}
export function parseTask(task: TaskFile, baseDir?: string): ParsedTask;
export function readTaskFile(path: string): ParsedTask;
/** A random client token (32 hex characters). */
export function newToken(): string;
export function decodeCheckpoint(bytes: Uint8Array): { taskFingerprint: string; round: number; history: RoundRecord[]; state: Uint8Array };
