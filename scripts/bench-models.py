"""Benchmark models for `npm run bench` (scripts/bench.mjs), and the Keras+pycaffe baseline.

Runs inside the reference environment (../shared/oracle/README.md), from the repo root:

    ../shared/oracle/run python3 scripts/bench-models.py            # build the models (once)
    ../shared/oracle/run python3 scripts/bench-models.py keras-caffe MODEL.h5 NET.prototxt OUT.caffemodel

`build` (the default) writes, with Keras 2.3.1 on Theano and keras_applications' builders with
weights=None (random initial weights, deterministic seed), real `model.save()` files:

    .cache/bench/resnet50.h5   ResNet50, 224x224x3, with top: 25.6M parameters (~100 MB)
    .cache/bench/vgg16.h5      VGG16, 224x224x3, with top: 138.4M parameters (~530 MB)
    .cache/bench/mobilenetv2.h5  MobileNetV2 (alpha 1), 224x224x3, with top: 3.5M parameters
                               (~14 MB), for timing `convert --verify`

.cache/ is gitignored: never commit these. Existing files are kept (pass --force to rebuild).

`keras-caffe` is the minimal Keras + pycaffe conversion people write by hand, timed from the
first line of this script: import keras and caffe, keras.models.load_model, caffe.Net on the
prototxt keras2caffe wrote, copy every weight (transposed to Caffe's layout, Theano's kernel
flip undone, Flatten-row permutation for the Dense after a Flatten), net.save. It prints one
JSON line with the phase times in seconds.
"""
import time

T0 = time.time()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

OUT = os.path.join('.cache', 'bench')


def build(force):
    import numpy as np
    np.random.seed(1234)
    import keras
    from keras import applications  # keras_applications 1.0.8 through keras 2.3.1
    os.makedirs(OUT, exist_ok=True)
    for name, ctor in [('resnet50', applications.ResNet50), ('vgg16', applications.VGG16),
                       ('mobilenetv2', applications.MobileNetV2)]:
        path = os.path.join(OUT, name + '.h5')
        if os.path.exists(path) and not force:
            print('%s exists (pass --force to rebuild)' % path)
            continue
        if hasattr(keras.backend, 'clear_session'):
            keras.backend.clear_session()
        t = time.time()
        model = ctor(weights=None, include_top=True, input_shape=(224, 224, 3))
        tmp = path + '.tmp'
        model.save(tmp)
        os.rename(tmp, path)
        print('%s: %d parameters, %d bytes, %.1f s' % (path, model.count_params(), os.path.getsize(path), time.time() - t))


def keras_caffe(h5, prototxt, out):
    import numpy as np
    import keras
    import caffe
    t_import = time.time()
    caffe.set_mode_cpu()
    model = keras.models.load_model(h5, compile=False)
    t_load = time.time()
    net = caffe.Net(prototxt, caffe.TEST)
    t_net = time.time()
    theano = keras.backend.backend() == 'theano'
    names = list(net.params.keys())
    flat_from = None  # (h, w, c) of the last Flatten's input
    copied = 0
    for layer in model.layers:
        cls = type(layer).__name__
        if cls == 'Flatten':
            s = layer.input_shape[1:]
            flat_from = tuple(s) if len(s) == 3 and s[0] * s[1] > 1 else None
        w = layer.get_weights()
        if not w:
            continue
        own = [n for n in names if n == layer.name or n.startswith(layer.name + '/')]
        if cls == 'Conv2D':
            k = w[0]
            if theano:
                k = k[::-1, ::-1]
            p = net.params[own[0]]
            p[0].data[...] = k.transpose(3, 2, 0, 1)
            if len(w) > 1:
                p[1].data[...] = w[1]
        elif cls == 'Dense':
            k = w[0]
            if flat_from is not None:
                h, ww, c = flat_from
                k = k.reshape(h, ww, c, -1).transpose(2, 0, 1, 3).reshape(h * ww * c, -1)
                flat_from = None
            p = net.params[own[0]]
            p[0].data[...] = k.T
            if len(w) > 1:
                p[1].data[...] = w[1]
        elif cls == 'BatchNormalization':
            by_name = dict(zip([v.name.split('/')[-1].split(':')[0] for v in layer.weights], w))
            bn = [n for n in own if len(net.params[n]) == 3][0]
            sc = [n for n in own if len(net.params[n]) == 2][0]
            net.params[bn][0].data[...] = by_name['moving_mean']
            net.params[bn][1].data[...] = by_name['moving_variance']
            net.params[bn][2].data[...] = 1
            net.params[sc][0].data[...] = by_name['gamma']
            net.params[sc][1].data[...] = by_name['beta']
        else:
            raise SystemExit('keras-caffe: no copy rule for %s (%s)' % (layer.name, cls))
        copied += 1
    t_copy = time.time()
    net.save(out)
    t_save = time.time()
    print(json.dumps({
        'imports': t_import - T0, 'load_model': t_load - t_import, 'caffe_net': t_net - t_load,
        'copy': t_copy - t_net, 'save': t_save - t_copy, 'total': t_save - T0,
        'layers': copied, 'bytes': os.path.getsize(out),
    }))


if __name__ == '__main__':
    args = sys.argv[1:]
    if args and args[0] == 'keras-caffe':
        keras_caffe(*args[1:4])
    else:
        build('--force' in args)
