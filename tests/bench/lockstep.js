// The peer's side of bench_engine's lockstep mode (bench_engine.c says
// why): open GO for reading and DONE for writing, run the warm-up, write a
// byte; then for each byte read from GO run a block (one pass untimed,
// then timed ones for BLOCK seconds, bench_engine's LOCKSTEP_BLOCK) and
// write a byte to DONE, until GO is closed. pass: an async function
// timing nothing itself. Returns each timed pass's seconds, sorted.
'use strict';
const fs = require('fs');
const BLOCK = 0.2;

async function peer(goPath, donePath, warm, pass) {
    const go = fs.openSync(goPath, 'r'), done = fs.openSync(donePath, 'w');
    const b = Buffer.alloc(1), t = [];
    await warm();
    fs.writeSync(done, 'r');
    const now = () => Number(process.hrtime.bigint()) / 1e9;
    while (fs.readSync(go, b, 0, 1, null) === 1) {
        await pass();
        const b0 = now();
        let t0;
        do {
            t0 = now();
            await pass();
            t.push(now() - t0);
        } while (now() - b0 < BLOCK);
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
