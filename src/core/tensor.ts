/** A dense float32 array with its shape (row-major, last dimension fastest). */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** The most values one Caffe blob holds: Caffe counts them in an int (Blob::count_). */
export const MAX_BLOB_COUNT = 2 ** 31 - 1;

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor(shape: number[], data?: Float32Array | number[]): Tensor {
  const n = elementCount(shape);
  const arr = data === undefined ? new Float32Array(n) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (arr.length !== n) throw new Error(`tensor data has ${arr.length} elements, shape [${shape}] needs ${n}`);
  return { shape, data: arr };
}
