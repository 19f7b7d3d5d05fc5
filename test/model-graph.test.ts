import { describe, expect, it } from 'vitest';
import { buildKerasGraph } from '../src/keras/modelGraph.js';
import { UserError } from '../src/core/errors.js';

const input = (name: string, shape: (number | null)[]) => ({ name, class_name: 'InputLayer', config: { batch_input_shape: [null, ...shape], name }, inbound_nodes: [] });
const layer = (name: string, cls: string, inbound: string[], config: Record<string, unknown> = {}) => ({
  name,
  class_name: cls,
  config: { name, ...config },
  inbound_nodes: [inbound.map((n) => [n, 0, 0, {}])],
});

describe('buildKerasGraph', () => {
  it('reads a Keras 2 functional model with two inputs and two outputs', () => {
    const g = buildKerasGraph({
      class_name: 'Model',
      config: {
        name: 'm',
        layers: [input('a', [4]), input('b', [4]), layer('add', 'Add', ['a', 'b']), layer('d1', 'Dense', ['add']), layer('d2', 'Dense', ['add'])],
        input_layers: [['a', 0, 0], ['b', 0, 0]],
        output_layers: [['d1', 0, 0], ['d2', 0, 0]],
      },
    });
    expect(g.layers.map((l) => l.name)).toEqual(['a', 'b', 'add', 'd1', 'd2']);
    expect(g.layers[2].inputs).toEqual(['a:0', 'b:0']);
    expect(g.outputs).toEqual(['d1:0', 'd2:0']);
    expect(g.consumers.get('add:0')!.map((l) => l.name)).toEqual(['d1', 'd2']);
  });

  it('turns a Sequential without InputLayer into an input plus a chain', () => {
    const g = buildKerasGraph({
      class_name: 'Sequential',
      config: { name: 'seq', layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3] } }, { class_name: 'Activation', config: { name: 'act', activation: 'relu' } }] },
    });
    expect(g.layers.map((l) => [l.name, l.className])).toEqual([['seq_input', 'InputLayer'], ['d', 'Dense'], ['act', 'Activation']]);
    expect(g.layers[0].config.batch_input_shape).toEqual([null, 3]);
  });

  it('inlines a nested Sequential and reads its weights from the nested group', () => {
    const inner = { name: 'inner', class_name: 'Sequential', config: { name: 'inner', layers: [{ class_name: 'Dense', config: { name: 'dense_in', units: 2, batch_input_shape: [null, 3] } }] }, inbound_nodes: [[['x', 0, 0, {}]]] };
    const g = buildKerasGraph({
      class_name: 'Model',
      config: { name: 'outer', layers: [input('x', [3]), inner, layer('out', 'Activation', ['inner'])], input_layers: [['x', 0, 0]], output_layers: [['out', 0, 0]] },
    });
    expect(g.layers.map((l) => l.name)).toEqual(['x', 'dense_in', 'out']);
    expect(g.layers[1].weights).toEqual({ group: 'inner', scope: 'dense_in' });
    expect(g.layers[1].inputs).toEqual(['x:0']);
    expect(g.layers[2].inputs).toEqual(['dense_in:0']);
  });

  it('reads Keras 3 inbound nodes with keras_history', () => {
    const kt = (l: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 4], dtype: 'float32', keras_history: [l, 0, 0] } });
    const g = buildKerasGraph({
      class_name: 'Functional',
      config: {
        name: 'k3',
        layers: [
          { name: 'in', class_name: 'InputLayer', config: { batch_shape: [null, 4], name: 'in' }, inbound_nodes: [] },
          { name: 'd', class_name: 'Dense', config: { name: 'd', units: 4 }, inbound_nodes: [{ args: [kt('in')], kwargs: {} }] },
          { name: 'cat', class_name: 'Concatenate', config: { name: 'cat', axis: -1 }, inbound_nodes: [{ args: [[kt('in'), kt('d')]], kwargs: {} }] },
        ],
        input_layers: ['in', 0, 0],
        output_layers: ['cat', 0, 0],
      },
    }, { kerasVersion: '3.3.3' });
    expect(g.layers.find((l) => l.name === 'cat')!.inputs).toEqual(['in:0', 'd:0']);
  });

  it('refuses Keras 1 files, cycles and dangling inbound nodes with UserErrors', () => {
    expect(() => buildKerasGraph({ class_name: 'Sequential', config: [{ class_name: 'Convolution2D', config: { name: 'c', nb_filter: 3, batch_input_shape: [null, 3, 8, 8] } }] }, { kerasVersion: '1.2.2' })).toThrow(/Keras 1/);
    const cyc = {
      class_name: 'Model',
      config: { name: 'c', layers: [input('x', [2]), layer('a', 'Add', ['x', 'b']), layer('b', 'Dense', ['a'])], input_layers: [['x', 0, 0]], output_layers: [['b', 0, 0]] },
    };
    expect(() => buildKerasGraph(cyc)).toThrow(UserError);
    expect(() => buildKerasGraph(cyc)).toThrow(/cycle/);
    const dangling = {
      class_name: 'Model',
      config: { name: 'c', layers: [input('x', [2]), layer('a', 'Dense', ['ghost'])], input_layers: [['x', 0, 0]], output_layers: [['a', 0, 0]] },
    };
    expect(() => buildKerasGraph(dangling)).toThrow(/unknown layer 'ghost'/);
  });
});
