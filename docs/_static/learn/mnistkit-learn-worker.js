/*
 * mnistkit "Watch a network learn": the network and its training, in a Web Worker.
 *
 * A multi-layer perceptron 784 -> hidden (ReLU) -> 10 (softmax), trained by minibatch SGD on
 * the mean softmax cross-entropy, with the backpropagation of mnistkit.scratch.NumpyMLP
 * (mnistkit/scratch.py) written again in plain JavaScript, in float64:
 *
 *   forward   z1 = x W1 + b1,  a1 = max(0, z1),  z2 = a1 W2 + b2,  p = softmax(z2)
 *   cost      C = mean over the batch of -log p[y]  (a stable log-sum-exp)
 *   backward  d2 = (p - onehot(y)) / N
 *             dC/dW2 = a1^T d2,  dC/db2 = sum of d2 over the batch
 *             d1 = (d2 W2^T) * (z1 > 0)      (ReLU'(0) taken as 0, as in NumpyMLP)
 *             dC/dW1 = x^T d1,   dC/db1 = sum of d1 over the batch
 *   step      W -= lr * dC/dW,  b -= lr * dC/db
 *
 * Initialisation as NumpyMLP's for activation="relu": the hidden layer's weights from He
 * normal N(0, 2 / 784), the output layer's from Glorot uniform U(-r, r) with
 * r = sqrt(6 / (hidden + 10)), biases zero. The random numbers come from a seeded generator
 * of this file (not NumPy's), so equal seeds give equal runs (in one browser: engines may
 * round Math.log and Math.cos differently in the last bit). Weights are
 * stored as NumpyMLP stores them: W1 is (784, hidden) and W2 is (hidden, 10), row-major.
 *
 * Batches are drawn as NumpyMLP.fit draws them: each epoch a fresh random order of the
 * training digits, cut into consecutive batches (the last one of an epoch may be smaller).
 * Pixels are the uint8 levels divided by 255; the worker skips the black ones (about four
 * in five), which add nothing to x W1 or to x^T d1.
 *
 * Messages in: init {buffer, train, val}; reset {id, hidden, seed}; run {id, steps, lr,
 * batchSize}; set {lr, batchSize}; pause; predict {id, pixels}; gradients {id, hidden, seed,
 * batch, lr}; weights {id}. Messages out: ready; progress {...}; reply {id, ...}.
 */
/* eslint-env worker */
"use strict";

var PIXELS = 784;
var CLASSES = 10;
// validation accuracy is measured every VAL_EVERY steps during a run
var VAL_EVERY = 25;
// a run works for about this many milliseconds between reports, so messages get through
var SLICE_MS = 40;

// ---------------------------------------------------------------------- random numbers
// mulberry32: a 32-bit state, one multiply-xorshift output per call; uniform in [0, 1).
function generator(seed) {
  var state = seed >>> 0;
  var next = function () {
    state = (state + 0x6d2b79f5) >>> 0;
    var t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  var spare = null;
  // standard normal numbers by the Box-Muller transform, two per pair of uniforms
  next.normal = function () {
    if (spare !== null) {
      var value = spare;
      spare = null;
      return value;
    }
    var u = 1 - next(); // in (0, 1]: the logarithm stays finite
    var v = next();
    var radius = Math.sqrt(-2 * Math.log(u));
    spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
  return next;
}

// ---------------------------------------------------------------------- the digits
var data = null; // {count, train, val, labels, starts, index, value}

// Sparse rows: for image i, its non-black pixels are index[starts[i] .. starts[i + 1]) with
// intensities value[...] = level / 255 (the same float64 as NumPy's uint8 / 255).
function loadDigits(buffer, train, val) {
  var count = train + val;
  var bytes = new Uint8Array(buffer);
  if (bytes.length !== count * (PIXELS + 1)) {
    throw new Error(
      "digits.bin holds " + bytes.length + " bytes, expected " + count * (PIXELS + 1)
    );
  }
  var starts = new Uint32Array(count + 1);
  var nonzero = 0;
  for (var i = 0; i < count * PIXELS; i++) if (bytes[i] !== 0) nonzero++;
  var index = new Uint16Array(nonzero);
  var value = new Float64Array(nonzero);
  var k = 0;
  for (var n = 0; n < count; n++) {
    starts[n] = k;
    for (var p = 0; p < PIXELS; p++) {
      var level = bytes[n * PIXELS + p];
      if (level !== 0) {
        index[k] = p;
        value[k] = level / 255;
        k++;
      }
    }
  }
  starts[count] = k;
  data = {
    count: count,
    train: train,
    val: val,
    labels: bytes.slice(count * PIXELS),
    starts: starts,
    index: index,
    value: value,
  };
}

// ---------------------------------------------------------------------- the network
function Network(hidden, seed) {
  this.hidden = hidden;
  this.seed = seed;
  var init = generator(seed);
  this.W1 = new Float64Array(PIXELS * hidden);
  this.b1 = new Float64Array(hidden);
  this.W2 = new Float64Array(hidden * CLASSES);
  this.b2 = new Float64Array(CLASSES);
  var std = Math.sqrt(2 / PIXELS); // He normal: the hidden layer feeds a ReLU
  for (var i = 0; i < this.W1.length; i++) this.W1[i] = std * init.normal();
  var r = Math.sqrt(6 / (hidden + CLASSES)); // Glorot uniform: the output layer
  for (i = 0; i < this.W2.length; i++) this.W2[i] = r * (2 * init() - 1);
  // the order of the training digits comes from its own stream, so that it does not
  // depend on how many numbers the initialisation drew
  this.shuffle = generator((seed ^ 0x9e3779b9) >>> 0);
  this.order = new Uint32Array(0);
  this.position = 0;
  this.steps = 0;
  this.epochs = 0;
  // work arrays
  this.gW1 = new Float64Array(PIXELS * hidden);
  this.gb1 = new Float64Array(hidden);
  this.gW2 = new Float64Array(hidden * CLASSES);
  this.gb2 = new Float64Array(CLASSES);
  this.z1 = new Float64Array(hidden);
  this.a1 = new Float64Array(hidden);
  this.d1 = new Float64Array(hidden);
  this.z2 = new Float64Array(CLASSES);
  this.p = new Float64Array(CLASSES);
}

// Hidden pre-activations and output logits of image n (or of dense pixels when given).
Network.prototype.forward = function (n, dense) {
  var H = this.hidden;
  var z1 = this.z1, a1 = this.a1, z2 = this.z2, W1 = this.W1, W2 = this.W2;
  var j, k;
  for (j = 0; j < H; j++) z1[j] = this.b1[j];
  if (dense) {
    for (var q = 0; q < PIXELS; q++) {
      var x = dense[q];
      if (x === 0) continue;
      var row = q * H;
      for (j = 0; j < H; j++) z1[j] += x * W1[row + j];
    }
  } else {
    for (var s = data.starts[n], end = data.starts[n + 1]; s < end; s++) {
      var v = data.value[s];
      var base = data.index[s] * H;
      for (j = 0; j < H; j++) z1[j] += v * W1[base + j];
    }
  }
  for (j = 0; j < H; j++) a1[j] = z1[j] > 0 ? z1[j] : 0;
  for (k = 0; k < CLASSES; k++) z2[k] = this.b2[k];
  for (j = 0; j < H; j++) {
    var a = a1[j];
    if (a === 0) continue;
    for (k = 0; k < CLASSES; k++) z2[k] += a * W2[j * CLASSES + k];
  }
};

// Softmax of the logits into this.p; returns log(sum(exp(z - max))) + max, the log-sum-exp.
Network.prototype.softmax = function () {
  var z2 = this.z2, p = this.p, k;
  var max = -Infinity;
  for (k = 0; k < CLASSES; k++) if (z2[k] > max) max = z2[k];
  var total = 0;
  for (k = 0; k < CLASSES; k++) {
    p[k] = Math.exp(z2[k] - max);
    total += p[k];
  }
  for (k = 0; k < CLASSES; k++) p[k] /= total;
  return max + Math.log(total);
};

// Gradients of the batch's mean cross-entropy into gW1, gb1, gW2, gb2; returns the cost,
// measured in the same forward pass (before any step).
Network.prototype.backward = function (batch) {
  var H = this.hidden, N = batch.length;
  var gW1 = this.gW1, gb1 = this.gb1, gW2 = this.gW2, gb2 = this.gb2;
  var z1 = this.z1, a1 = this.a1, d1 = this.d1, p = this.p, W2 = this.W2;
  gW1.fill(0);
  gb1.fill(0);
  gW2.fill(0);
  gb2.fill(0);
  var cost = 0;
  var j, k;
  for (var b = 0; b < N; b++) {
    var n = batch[b];
    var label = data.labels[n];
    this.forward(n);
    cost += this.softmax() - this.z2[label]; // -log p[label]
    p[label] -= 1; // p - onehot(y) ...
    for (k = 0; k < CLASSES; k++) p[k] /= N; // ... / N: now d2 of this sample
    for (k = 0; k < CLASSES; k++) gb2[k] += p[k];
    for (j = 0; j < H; j++) {
      var a = a1[j];
      var back = 0;
      for (k = 0; k < CLASSES; k++) {
        gW2[j * CLASSES + k] += a * p[k];
        back += p[k] * W2[j * CLASSES + k];
      }
      d1[j] = z1[j] > 0 ? back : 0;
      gb1[j] += d1[j];
    }
    for (var s = data.starts[n], end = data.starts[n + 1]; s < end; s++) {
      var v = data.value[s];
      var base = data.index[s] * H;
      for (j = 0; j < H; j++) gW1[base + j] += v * d1[j];
    }
  }
  return cost / N;
};

Network.prototype.apply = function (lr) {
  var pairs = [
    [this.W1, this.gW1],
    [this.b1, this.gb1],
    [this.W2, this.gW2],
    [this.b2, this.gb2],
  ];
  for (var i = 0; i < pairs.length; i++) {
    var w = pairs[i][0], g = pairs[i][1];
    for (var k = 0; k < w.length; k++) w[k] -= lr * g[k];
  }
};

// The next batch of training indices: consecutive slices of a fresh order every epoch.
Network.prototype.nextBatch = function (size) {
  if (this.position >= this.order.length) {
    if (this.order.length > 0) this.epochs++;
    var order = new Uint32Array(data.train);
    for (var i = 0; i < order.length; i++) order[i] = i;
    for (i = order.length - 1; i > 0; i--) {
      // Fisher-Yates
      var j = Math.floor(this.shuffle() * (i + 1));
      var t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    this.order = order;
    this.position = 0;
  }
  var end = Math.min(this.position + size, this.order.length);
  var batch = this.order.subarray(this.position, end);
  this.position += batch.length;
  return batch;
};

Network.prototype.step = function (lr, batchSize) {
  var cost = this.backward(this.nextBatch(batchSize));
  this.apply(lr);
  this.steps++;
  return cost;
};

Network.prototype.predict = function (pixels) {
  this.forward(-1, pixels);
  this.softmax();
  return Array.from(this.p);
};

Network.prototype.valAccuracy = function () {
  var right = 0;
  for (var n = data.train; n < data.count; n++) {
    this.forward(n);
    var best = 0;
    for (var k = 1; k < CLASSES; k++) if (this.z2[k] > this.z2[best]) best = k;
    if (best === data.labels[n]) right++;
  }
  return right / data.val;
};

Network.prototype.snapshot = function () {
  return {
    weights: [Array.from(this.W1), Array.from(this.W2)],
    biases: [Array.from(this.b1), Array.from(this.b2)],
  };
};

// ---------------------------------------------------------------------- the worker
var net = null;
var run = null; // {id, remaining, lr, batchSize, losses}
var timer = null;

function report(losses, val, final, fresh) {
  var message = {
    type: "progress",
    reset: Boolean(fresh),
    step: net.steps,
    epoch: net.epochs,
    hidden: net.hidden,
    seed: net.seed,
    losses: losses,
    val: val,
    running: !final && run !== null,
    // the hidden units' weights for the page's pictures, as float32: enough to look at
    weights: Float32Array.from(net.W1),
  };
  postMessage(message, [message.weights.buffer]);
}

function tick() {
  timer = null;
  if (!run) return;
  var started = performance.now();
  var fresh = [];
  var val = null;
  while (run.remaining > 0 && performance.now() - started < SLICE_MS) {
    var cost = net.step(run.lr, run.batchSize);
    fresh.push(cost);
    if (run.losses) run.losses.push(cost);
    run.remaining--;
    if (net.steps % VAL_EVERY === 0) {
      val = { step: net.steps, accuracy: net.valAccuracy() };
    }
    if (!isFinite(cost) && run.losses === null) {
      // an endless run whose cost overflowed (learning rate far too high) stops here:
      // the weights are no longer numbers, and stay so
      run.remaining = 0;
    }
  }
  if (run.remaining > 0) {
    report(fresh, val, false);
    timer = setTimeout(tick, 0);
    return;
  }
  var finished = run;
  run = null;
  var accuracy = net.valAccuracy();
  if (!val || val.step !== net.steps) val = { step: net.steps, accuracy: accuracy };
  report(fresh, val, true);
  if (finished.id !== null) {
    postMessage({
      type: "reply",
      id: finished.id,
      result: { loss: finished.losses, valAccuracy: accuracy, steps: net.steps },
    });
  }
}

function stop() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  if (run && run.id !== null) {
    postMessage({ type: "reply", id: run.id, error: "stopped before the last step" });
  }
  run = null;
}

function checkHidden(hidden) {
  if (!(Number.isInteger(hidden) && hidden >= 1 && hidden <= 1024)) {
    throw new RangeError("hidden must be a whole number from 1 to 1024, got " + hidden);
  }
}

function checkSeed(seed) {
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= 4294967295)) {
    throw new RangeError("seed must be a whole number from 0 to 2**32 - 1, got " + seed);
  }
}

function checkRun(lr, batchSize) {
  if (!(typeof lr === "number" && isFinite(lr) && lr > 0)) {
    throw new RangeError("lr must be a positive number, got " + lr);
  }
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new RangeError("batchSize must be a whole number of at least 1, got " + batchSize);
  }
}

var handlers = {
  init: function (m) {
    loadDigits(m.buffer, m.train, m.val);
    return { train: data.train, val: data.val };
  },
  reset: function (m) {
    checkHidden(m.hidden);
    checkSeed(m.seed);
    stop();
    net = new Network(m.hidden, m.seed);
    report([], { step: 0, accuracy: net.valAccuracy() }, true, true);
    return { hidden: net.hidden, seed: net.seed };
  },
  run: function (m) {
    checkRun(m.lr, m.batchSize);
    var steps = m.steps === null || m.steps === undefined ? Infinity : m.steps;
    if (!(steps === Infinity || (Number.isInteger(steps) && steps >= 1))) {
      throw new RangeError("steps must be a whole number of at least 1, got " + steps);
    }
    stop();
    run = {
      id: m.id === undefined ? null : m.id,
      remaining: steps,
      lr: m.lr,
      batchSize: m.batchSize,
      // a run that ends reports all its losses; an endless one only streams them
      losses: steps === Infinity ? null : [],
    };
    timer = setTimeout(tick, 0);
    return undefined; // the reply comes when the run ends
  },
  set: function (m) {
    if (run) {
      checkRun(m.lr, m.batchSize);
      run.lr = m.lr;
      run.batchSize = m.batchSize;
    }
    return null;
  },
  pause: function () {
    stop();
    if (net) report([], null, true);
    return null;
  },
  predict: function (m) {
    if (!m.pixels || m.pixels.length !== PIXELS) {
      throw new RangeError(
        "predict: expected 784 pixel values, got " + (m.pixels && m.pixels.length)
      );
    }
    return { probabilities: net.predict(Float64Array.from(m.pixels)) };
  },
  weights: function () {
    var result = net.snapshot();
    result.hidden = net.hidden;
    result.steps = net.steps;
    return result;
  },
  // One step of a fresh network on the given training digits: its weights before the step,
  // the gradients, the cost and the weights after the step. The page's network is untouched.
  gradients: function (m) {
    checkHidden(m.hidden);
    checkSeed(m.seed);
    var lr = m.lr === undefined ? 0.1 : m.lr;
    checkRun(lr, 1);
    var batch = Uint32Array.from(m.batch || []);
    if (batch.length === 0) throw new RangeError("batch must hold at least one index");
    for (var i = 0; i < batch.length; i++) {
      if (batch[i] >= data.train || batch[i] !== m.batch[i]) {
        throw new RangeError("batch indices must be training digits, 0 to " + (data.train - 1));
      }
    }
    var fresh = new Network(m.hidden, m.seed);
    var before = fresh.snapshot();
    var cost = fresh.backward(batch);
    var grads = {
      weights: [Array.from(fresh.gW1), Array.from(fresh.gW2)],
      biases: [Array.from(fresh.gb1), Array.from(fresh.gb2)],
    };
    fresh.apply(lr);
    return { before: before, gradients: grads, loss: cost, after: fresh.snapshot(), lr: lr };
  },
};

onmessage = function (event) {
  var m = event.data;
  try {
    if (m.type !== "init" && !data) throw new Error("the digits are not loaded yet");
    if (m.type !== "init" && m.type !== "reset" && m.type !== "gradients" && !net) {
      throw new Error("no network yet: reset first");
    }
    var handler = handlers[m.type];
    if (!handler) throw new Error("unknown message " + m.type);
    var result = handler(m);
    if (result !== undefined && m.id !== undefined) {
      postMessage({ type: "reply", id: m.id, result: result });
    }
  } catch (error) {
    if (m.id !== undefined) {
      postMessage({ type: "reply", id: m.id, error: String(error.message || error) });
    }
  }
};
