// The ONNX Runtime session the bench's throughput and profile runs share
// (zoo_ort.js, zoo_ort_profile.js), so that both time the same thing:
// onnxruntime-node from ORT_DIR (the folder npm installed it into),
// intraOpNumThreads as cnntools' thread count, one inter-op thread,
// sequential execution, every graph optimisation; more: further session
// options (the profiler's). Also random inputs of a 3 x 224 x 224 net.
'use strict';
const path = require('path');

function load(dir) {
    return require(path.resolve(dir, 'node_modules', 'onnxruntime-node'));
}

function open(ort, file, threads, more) {
    return ort.InferenceSession.create(file, Object.assign({
        intraOpNumThreads: +threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // Spinning idle threads (ONNX Runtime's default) take the cores from
        // the working ones when other processes run too; they sleep unless
        // BENCH_SPIN=1. (cnntools' threads spin about 20 us before they
        // sleep, env.sh's bench_wait; ONNX Runtime has no such middle
        // setting. With its spinning on, its mobilenet_v2 batch-1 forward on
        // 2 threads ran 15-20% faster here.)
        extra: { session: { intra_op: { allow_spinning: process.env.BENCH_SPIN === '1' ? '1' : '0' } } },
    }, more || {}));
}

// Feeds for session s: b images of uniform random values in [0, 1).
function randomFeeds(ort, s, b) {
    const x = new Float32Array(b * 3 * 224 * 224);
    for (let i = 0; i < x.length; i++) x[i] = Math.random();
    return { [s.inputNames[0]]: new ort.Tensor('float32', x, [b, 3, 224, 224]) };
}

module.exports = { load, open, randomFeeds };
