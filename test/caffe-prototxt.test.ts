import { describe, expect, it } from 'vitest';
import type { CaffeLayer, CaffeNet } from '../src/caffe/net.js';
import { formatFloat32, quoteString, writePrototxt } from '../src/caffe/prototxt.js';

/** A small net touching the common layers; params deliberately given out of field order. */
function smallNet(): CaffeNet {
  return {
    name: 'small',
    layers: [
      { name: 'data', type: 'Input', bottom: [], top: ['data'], params: { input_param: { shape: [{ dim: [1, 4, 8, 8] }] } } },
      {
        name: 'conv1',
        type: 'Convolution',
        bottom: ['data'],
        top: ['conv1'],
        params: { convolution_param: { stride: [2], group: 2, bias_term: false, kernel_size: [3], pad: [1], num_output: 6 } },
      },
      {
        name: 'bn1',
        type: 'BatchNorm',
        bottom: ['conv1'],
        top: ['conv1'],
        params: { batch_norm_param: { eps: 0.001, use_global_stats: true } },
      },
      { name: 'scale1', type: 'Scale', bottom: ['conv1'], top: ['conv1'], params: { scale_param: { bias_term: true } } },
      { name: 'relu1', type: 'ReLU', bottom: ['conv1'], top: ['conv1'] },
      {
        name: 'pool1',
        type: 'Pooling',
        bottom: ['conv1'],
        top: ['pool1'],
        params: { pooling_param: { round_mode: 'FLOOR', stride: 2, kernel_size: 2, pool: 'MAX' } },
      },
      { name: 'fc1', type: 'InnerProduct', bottom: ['pool1'], top: ['fc1'], params: { inner_product_param: { num_output: 10 } } },
      { name: 'fc2', type: 'InnerProduct', bottom: ['pool1'], top: ['fc2'], params: { inner_product_param: { num_output: 10 } } },
      {
        name: 'sum',
        type: 'Eltwise',
        bottom: ['fc1', 'fc2'],
        top: ['sum'],
        params: { eltwise_param: { coeff: [1, 0.1], operation: 'SUM' } },
      },
      { name: 'cat', type: 'Concat', bottom: ['sum', 'fc1'], top: ['cat'], params: { concat_param: { axis: 1 } } },
      { name: 'prob', type: 'Softmax', bottom: ['cat'], top: ['prob'], params: { softmax_param: { axis: -1 } } },
    ],
  };
}

const SMALL_PROTOTXT = `name: "small"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param {
    shape {
      dim: 1
      dim: 4
      dim: 8
      dim: 8
    }
  }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  convolution_param {
    num_output: 6
    bias_term: false
    pad: 1
    kernel_size: 3
    group: 2
    stride: 2
  }
}
layer {
  name: "bn1"
  type: "BatchNorm"
  bottom: "conv1"
  top: "conv1"
  batch_norm_param {
    use_global_stats: true
    eps: 0.001
  }
}
layer {
  name: "scale1"
  type: "Scale"
  bottom: "conv1"
  top: "conv1"
  scale_param {
    bias_term: true
  }
}
layer {
  name: "relu1"
  type: "ReLU"
  bottom: "conv1"
  top: "conv1"
}
layer {
  name: "pool1"
  type: "Pooling"
  bottom: "conv1"
  top: "pool1"
  pooling_param {
    pool: MAX
    kernel_size: 2
    stride: 2
    round_mode: FLOOR
  }
}
layer {
  name: "fc1"
  type: "InnerProduct"
  bottom: "pool1"
  top: "fc1"
  inner_product_param {
    num_output: 10
  }
}
layer {
  name: "fc2"
  type: "InnerProduct"
  bottom: "pool1"
  top: "fc2"
  inner_product_param {
    num_output: 10
  }
}
layer {
  name: "sum"
  type: "Eltwise"
  bottom: "fc1"
  bottom: "fc2"
  top: "sum"
  eltwise_param {
    operation: SUM
    coeff: 1
    coeff: 0.1
  }
}
layer {
  name: "cat"
  type: "Concat"
  bottom: "sum"
  bottom: "fc1"
  top: "cat"
  concat_param {
    axis: 1
  }
}
layer {
  name: "prob"
  type: "Softmax"
  bottom: "cat"
  top: "prob"
  softmax_param {
    axis: -1
  }
}
`;

function layerOf(params: CaffeLayer['params'], type = 'Convolution'): CaffeNet {
  return { name: 'n', layers: [{ name: 'L1', type, bottom: ['a'], top: ['b'], params }] };
}

describe('writePrototxt', () => {
  it('writes the small net exactly', () => {
    expect(writePrototxt(smallNet())).toBe(SMALL_PROTOTXT);
  });

  it('is deterministic and independent of key insertion order', () => {
    const a = writePrototxt(smallNet());
    expect(writePrototxt(smallNet())).toBe(a);
    const reordered = smallNet();
    reordered.layers[1].params = {
      convolution_param: { num_output: 6, bias_term: false, pad: [1], kernel_size: [3], group: 2, stride: [2] },
    };
    reordered.layers[5].params = { pooling_param: { pool: 'MAX', kernel_size: 2, stride: 2, round_mode: 'FLOOR' } };
    expect(writePrototxt(reordered)).toBe(a);
  });

  it('orders LayerParameter fields and sub-message fields by field number', () => {
    const text = writePrototxt({
      name: 'order',
      layers: [
        {
          name: 'p',
          type: 'Pooling',
          bottom: ['x'],
          top: ['y'],
          params: {
            pooling_param: { global_pooling: true, pad_w: 1, pad_h: 0, pool: 1, engine: 'CAFFE' },
            phase: 'TEST' as never,
            param: [{ lr_mult: 0 }, { decay_mult: 0, lr_mult: 2 }] as never,
          },
        },
      ],
    });
    expect(text).toBe(`name: "order"
layer {
  name: "p"
  type: "Pooling"
  bottom: "x"
  top: "y"
  param {
    lr_mult: 0
  }
  param {
    lr_mult: 2
    decay_mult: 0
  }
  phase: TEST
  pooling_param {
    pool: AVE
    pad_h: 0
    pad_w: 1
    engine: CAFFE
    global_pooling: true
  }
}
`);
  });

  it('writes no blobs and ignores undefined values', () => {
    const net = layerOf({ inner_product_param: { num_output: 3, bias_term: undefined, axis: 1 } }, 'InnerProduct');
    net.layers[0].blobs = () => [{ shape: [3, 2], data: new Float32Array(6) }];
    net.layers[0].blobShapes = [[3, 2]];
    const text = writePrototxt(net);
    expect(text).not.toContain('blobs');
    expect(text).toContain('  inner_product_param {\n    num_output: 3\n    axis: 1\n  }\n');
  });

  it('writes nested messages, repeated messages and the permute extension', () => {
    const text = writePrototxt({
      name: 'nest',
      layers: [
        { name: 'r', type: 'Reshape', bottom: ['x'], top: ['y'], params: { reshape_param: { shape: { dim: [0, -1] } } } },
        { name: 't', type: 'Permute', bottom: ['y'], top: ['z'], params: { permute_param: { order: [0, 2, 3, 1] } } },
        { name: 'c', type: 'Clip', bottom: ['z'], top: ['w'], params: { clip_param: { max: 6, min: 0 } } },
      ],
    });
    expect(text).toContain('  reshape_param {\n    shape {\n      dim: 0\n      dim: -1\n    }\n  }\n');
    expect(text).toContain('  permute_param {\n    order: 0\n    order: 2\n    order: 3\n    order: 1\n  }\n');
    expect(text).toContain('  clip_param {\n    min: 0\n    max: 6\n  }\n');
  });

  it('escapes strings per protobuf text format (UTF-8 bytes as octal)', () => {
    const name = 'a "q" \\ b\nc\té 中😀';
    expect(quoteString(name)).toBe('"a \\"q\\" \\\\ b\\nc\\t\\303\\251 \\344\\270\\255\\360\\237\\230\\200"');
    const text = writePrototxt({ name, layers: [{ name, type: 'ReLU', bottom: [name], top: ['o k'] }] });
    expect(text).toBe(
      'name: "a \\"q\\" \\\\ b\\nc\\t\\303\\251 \\344\\270\\255\\360\\237\\230\\200"\n' +
        'layer {\n' +
        '  name: "a \\"q\\" \\\\ b\\nc\\t\\303\\251 \\344\\270\\255\\360\\237\\230\\200"\n' +
        '  type: "ReLU"\n' +
        '  bottom: "a \\"q\\" \\\\ b\\nc\\t\\303\\251 \\344\\270\\255\\360\\237\\230\\200"\n' +
        '  top: "o k"\n' +
        '}\n',
    );
    expect(/^[\x20-\x7e\n]*$/.test(text)).toBe(true);
    expect(quoteString('\x00\x7f\r')).toBe('"\\000\\177\\r"');
  });

  it('formats floats as the shortest text that reads back as the same float32', () => {
    expect(formatFloat32(1)).toBe('1');
    expect(formatFloat32(0.1)).toBe('0.1');
    expect(formatFloat32(1e-5)).toBe('0.00001');
    expect(formatFloat32(1e-7)).toBe('1e-7');
    expect(formatFloat32(0.999)).toBe('0.999');
    expect(formatFloat32(1 / 3)).toBe('0.33333334');
    expect(formatFloat32(16777217)).toBe('16777216');
    expect(formatFloat32(3.4028234663852886e38)).toBe('3.4028235e+38');
    expect(formatFloat32(1.401298464324817e-45)).toBe('1e-45');
    expect(formatFloat32(-0)).toBe('-0');
    expect(formatFloat32(0)).toBe('0');
    expect(formatFloat32(Infinity)).toBe('inf');
    expect(formatFloat32(-Infinity)).toBe('-inf');
    expect(formatFloat32(NaN)).toBe('nan');
    // random bit patterns: decimal -> double -> float32 must give the same bits back
    const bits = new Uint32Array(20000);
    let s = 12345;
    for (let i = 0; i < bits.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      bits[i] = (s ^ (s << 7) ^ Math.imul(i, 2654435761)) >>> 0;
    }
    const f = new Float32Array(bits.buffer);
    for (const x of f) {
      if (!Number.isFinite(x)) continue;
      const t = formatFloat32(x);
      expect(Math.fround(Number(t))).toBe(x);
      const digits = t.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      expect(digits.length, t).toBeLessThanOrEqual(9);
    }
  });

  it('writes float32-rounded values (what the .caffemodel stores)', () => {
    const text = writePrototxt(layerOf({ relu_param: { negative_slope: 0.30000000000000004 } }, 'ReLU'));
    expect(text).toContain('negative_slope: 0.3\n');
  });

  it('throws a clear error naming the layer for programming errors', () => {
    expect(() => writePrototxt(layerOf({ conv_param: { num_output: 1 } }))).toThrow(
      /layer 'L1' \(Convolution\): params\.conv_param: unknown layer parameter/,
    );
    expect(() => writePrototxt(layerOf({ convolution_param: { kernel: 3 } }))).toThrow(
      /layer 'L1' \(Convolution\): convolution_param\.kernel: unknown field of ConvolutionParameter/,
    );
    expect(() => writePrototxt(layerOf({ convolution_param: { num_output: '3' } }))).toThrow(
      /layer 'L1'.*convolution_param\.num_output: expected an integer/,
    );
    expect(() => writePrototxt(layerOf({ convolution_param: { pad: [1, -1] } }))).toThrow(
      /convolution_param\.pad\[1\]: -1 is not a valid uint32/,
    );
    expect(() => writePrototxt(layerOf({ convolution_param: { num_output: 2.5 } }))).toThrow(/not a valid uint32/);
    expect(() => writePrototxt(layerOf({ convolution_param: { group: [1, 2] } }))).toThrow(/not a repeated field/);
    expect(() => writePrototxt(layerOf({ convolution_param: { bias_term: 0 } }))).toThrow(/expected a boolean/);
    expect(() => writePrototxt(layerOf({ pooling_param: { pool: 'MAXX' } }, 'Pooling'))).toThrow(
      /"MAXX" is not a value of enum PoolMethod \(MAX, AVE, STOCHASTIC\)/,
    );
    expect(() => writePrototxt(layerOf({ pooling_param: { pool: 7 } }, 'Pooling'))).toThrow(/7 is not a value of enum/);
    expect(() => writePrototxt(layerOf({ clip_param: { min: 0 } }, 'Clip'))).toThrow(
      /clip_param\.max: required field of ClipParameter is missing/,
    );
    expect(() => writePrototxt(layerOf({ input_param: { shape: [{ dim: [1, 2 ** 60] }] } }, 'Input'))).toThrow(
      /input_param\.shape\[0\]\.dim\[1\]/,
    );
    expect(() => writePrototxt(layerOf({ blobs: {} }))).toThrow(/params\.blobs: 'blobs' is set by the layer itself/);
    expect(() => writePrototxt(layerOf({ name: {} }))).toThrow(/params\.name/);
    expect(() => writePrototxt({ name: 'n', layers: [{ name: '', type: 'ReLU', bottom: [], top: ['x'] }] })).toThrow(
      /name: must be a non-empty string/,
    );
    expect(() => writePrototxt({ name: 'n', layers: [{ name: 'r', type: 'ReLU', bottom: [3 as never], top: ['x'] }] })).toThrow(
      /layer 'r' \(ReLU\): bottom: must be an array of non-empty strings/,
    );
    expect(() => writePrototxt({ name: 'n', layers: [{ name: 'bad\ud800', type: 'ReLU', bottom: [], top: ['x'] }] })).toThrow(
      /lone surrogate/,
    );
  });
});
