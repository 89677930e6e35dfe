// The peer's side of bench_engine's lockstep mode (bench_engine.c says
// why): open GO for reading and DONE for writing, run the warm-up, write a
// byte; then for each byte read from GO run one pass and write a byte to
// DONE, until GO is closed. pass: an async function timing nothing itself.
// Returns each pass's seconds, sorted.
'use strict';
const fs = require('fs');

async function peer(goPath, donePath, warm, pass) {
    const go = fs.openSync(goPath, 'r'), done = fs.openSync(donePath, 'w');
    const b = Buffer.alloc(1), t = [];
    await warm();
    fs.writeSync(done, 'r');
    while (fs.readSync(go, b, 0, 1, null) === 1) {
        const t0 = process.hrtime.bigint();
        await pass();
        t.push(Number(process.hrtime.bigint() - t0) / 1e9);
        fs.writeSync(done, 'd');
    }
    fs.closeSync(go);
    fs.closeSync(done);
    return t.sort((x, y) => x - y);
}

function median(t) {
    const k = t.length;
    return k % 2 ? t[(k - 1) / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
}

module.exports = { peer, median };
