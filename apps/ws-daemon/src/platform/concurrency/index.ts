export { abortReasonToError, type Deferred, deferred, raceAbort } from "./abortable.js";
export { KeyedMutex } from "./keyed-mutex.js";
export { KeyedSerializer, type KeyedSerializerOptions } from "./keyed-serializer.js";
export { type RetryOptions, type RetryPolicy, retry, retryDelay } from "./retry.js";
export { Semaphore } from "./semaphore.js";
