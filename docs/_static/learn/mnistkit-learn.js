/*
 * mnistkit "Watch a network learn": the page. The network and its training run in a Web
 * Worker (mnistkit-learn-worker.js, which describes the mathematics); this script loads the
 * digits the documentation build shipped (digits.bin, learn.json), drives the worker from
 * the sliders and buttons, and draws what it reports: the loss, the validation accuracy and
 * the hidden units' weights. A drawing is turned into a 28x28 MNIST-style image by the
 * draw-a-digit page's preprocessing (window.mnistkitDemo.preprocess, from
 * _static/mnistkit-demo.js, loaded after this file), then read by the network.
 *
 * Test hooks (and for readers, from the browser console): window.mnistkitLearn.ready (a
 * Promise, resolves when the digits are loaded and a first network is made);
 * .train({steps, lr, hidden, batchSize, seed}) -> Promise of {loss: [cost of each step's
 * batch, before its update], valAccuracy}, a fresh network trained on the page;
 * .gradients({hidden, seed, batch: [training digit indices], lr}) -> Promise of one step
 * of a fresh network: {before, gradients, loss, after}, each of weights [W1 (784 x hidden),
 * W2 (hidden x 10)] and biases [b1, b2] as flat row-major arrays; .weights() -> Promise of
 * the page network's current weights and biases; .predict(pixels) -> Promise of its ten
 * probabilities for 784 values in [0, 1]; .pause(); .tryDrawing() -> Promise of the
 * probabilities for what is drawn on the pad (null when nothing is), once it is read.
 */
(function () {
  "use strict";

  // The draw-a-digit script is loaded on this page for its preprocessing only: it finds no
  // demo on the page and rejects its own "ready" promise, which is expected here.
  window.addEventListener("unhandledrejection", function (event) {
    if (window.mnistkitDemo && event.promise === window.mnistkitDemo.ready) {
      event.preventDefault();
    }
  });

  var RATES = 30; // the learning-rate slider: 10 ** (-3 + position / 10), 0.001 to 1
  var BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
  var HIDDEN_STEP = 4; // hidden units: 4 to 128
  var DEFAULTS = { lr: 0.1, hidden: 32, batchSize: 32, seed: 0 };

  var root = document.getElementById("mnistkit-learn");
  if (!root) {
    window.mnistkitLearn = {
      ready: Promise.reject(new Error("mnistkit learn: no #mnistkit-learn element on this page")),
    };
    return;
  }
  var base = new URL(root.getAttribute("data-files"), document.baseURI).href;

  function $(name) {
    return root.querySelector(".mnistkit-learn-" + name);
  }

  // ------------------------------------------------------------------ the worker
  var worker = new Worker(base + "mnistkit-learn-worker.js");
  var calls = {};
  var nextId = 1;
  var failed = null;

  function call(type, fields, transfer) {
    if (failed) return Promise.reject(failed);
    return new Promise(function (resolve, reject) {
      var id = nextId++;
      calls[id] = { resolve: resolve, reject: reject };
      var message = Object.assign({ type: type, id: id }, fields || {});
      worker.postMessage(message, transfer || []);
    });
  }

  function post(type, fields) {
    worker.postMessage(Object.assign({ type: type }, fields || {}));
  }

  worker.onmessage = function (event) {
    var m = event.data;
    if (m.type === "progress") {
      progress(m);
    } else if (m.type === "reply" && calls[m.id]) {
      var pending = calls[m.id];
      delete calls[m.id];
      if (m.error !== undefined) pending.reject(new Error(m.error));
      else pending.resolve(m.result);
    }
  };
  worker.onerror = function (event) {
    failed = new Error("the training worker failed: " + (event.message || "unknown error"));
    Object.keys(calls).forEach(function (id) {
      calls[id].reject(failed);
      delete calls[id];
    });
    status(failed.message);
  };

  // ------------------------------------------------------------------ state
  var settings = Object.assign({}, DEFAULTS);
  var history = { losses: [], val: [] };
  var view = { step: 0, epoch: 0, hidden: 0, weights: null, running: false };
  var info = null;

  function status(text) {
    $("status").textContent = text;
  }

  function format(number, digits) {
    return number.toLocaleString("en-US", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
  }

  function describe() {
    var parts = ["Step " + format(view.step, 0) + " (epoch " + (view.epoch + 1) + ")"];
    var n = history.losses.length;
    if (n > 0) {
      var recent = history.losses.slice(Math.max(0, n - 20));
      var mean = recent.reduce(function (a, b) { return a + b; }, 0) / recent.length;
      parts.push(isFinite(mean) ? "loss " + format(mean, 3) : "loss not a number");
    }
    var last = history.val[history.val.length - 1];
    if (last) parts.push("validation accuracy " + format(100 * last.accuracy, 1) + "%");
    var text = parts.join(" · ");
    if (n > 0 && !isFinite(history.losses[n - 1])) {
      text += ". The loss overflowed: the learning rate is too high. Lower it and press " +
        "\u201cNew network\u201d.";
    }
    status(text);
  }

  function progress(m) {
    if (m.reset) {
      history = { losses: [], val: [] };
    }
    for (var i = 0; i < m.losses.length; i++) history.losses.push(m.losses[i]);
    var last = history.val[history.val.length - 1];
    if (m.val && (!last || m.val.step > last.step)) history.val.push(m.val);
    view.step = m.step;
    view.epoch = m.epoch;
    view.hidden = m.hidden;
    view.weights = m.weights;
    view.running = m.running;
    root.setAttribute("data-step", String(m.step));
    $("start").textContent = m.running ? "Pause" : "Train";
    $("start").setAttribute("aria-pressed", m.running ? "true" : "false");
    schedule();
    if (drawn) tryAgain();
  }

  // ------------------------------------------------------------------ drawing
  var frame = false;
  function schedule() {
    if (frame) return;
    frame = true;
    requestAnimationFrame(function () {
      frame = false;
      describe();
      drawLoss();
      drawAccuracy();
      drawUnits();
    });
  }

  function colour(name, fallback) {
    var value = getComputedStyle(document.body).getPropertyValue(name).trim();
    return value || fallback;
  }

  // Fit a canvas's backing store to its displayed size (sharp on high-density screens).
  function fit(canvas) {
    var ratio = window.devicePixelRatio || 1;
    var width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    var height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    var context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { context: context, width: canvas.clientWidth, height: canvas.clientHeight };
  }

  // Axes with a few labelled horizontal lines; returns the plot area.
  function axes(c, ticks, label, top, bottom, maxStep) {
    var ink = colour("--color-foreground-secondary", "#555");
    var grid = colour("--color-background-border", "#ddd");
    var area = { left: 44, right: c.width - 10, top: 10, bottom: c.height - 24 };
    c.context.clearRect(0, 0, c.width, c.height);
    c.context.font = "11px sans-serif";
    c.context.fillStyle = ink;
    c.context.strokeStyle = grid;
    c.context.lineWidth = 1;
    c.context.textAlign = "right";
    c.context.textBaseline = "middle";
    ticks.forEach(function (tick) {
      var y = area.bottom - ((tick - bottom) / (top - bottom)) * (area.bottom - area.top);
      c.context.beginPath();
      c.context.moveTo(area.left, y);
      c.context.lineTo(area.right, y);
      c.context.stroke();
      c.context.fillText(label(tick), area.left - 4, y);
    });
    c.context.textAlign = "center";
    c.context.textBaseline = "top";
    c.context.fillText("0", area.left, area.bottom + 6);
    c.context.fillText(format(maxStep, 0) + " steps", (area.left + area.right) / 2, area.bottom + 6);
    return area;
  }

  function drawLoss() {
    var c = fit($("loss"));
    var losses = history.losses;
    var maxStep = Math.max(losses.length, 10);
    // the first losses are about ln 10 = 2.3; anything higher is clipped at the top
    var top = 3;
    var area = axes(c, [0, 0.5, 1, 1.5, 2, 2.5, 3], function (t) { return format(t, 1); }, top, 0, maxStep);
    if (losses.length === 0) return;
    var x = function (i) { return area.left + ((i + 1) / maxStep) * (area.right - area.left); };
    var y = function (v) {
      var clipped = isFinite(v) ? Math.min(Math.max(v, 0), top) : top;
      return area.bottom - (clipped / top) * (area.bottom - area.top);
    };
    var ctx = c.context;
    // each step's batch loss, faint, and its running average (over about 2% of the steps)
    ctx.strokeStyle = "rgba(222, 110, 40, 0.35)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    var every = Math.max(1, Math.floor(losses.length / (2 * (area.right - area.left))));
    for (var i = 0; i < losses.length; i += every) {
      if (i === 0) ctx.moveTo(x(i), y(losses[i]));
      else ctx.lineTo(x(i), y(losses[i]));
    }
    ctx.stroke();
    var weight = Math.min(0.2, 50 / losses.length);
    var average = losses[0];
    ctx.strokeStyle = "#c0392b";
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (i = 0; i < losses.length; i++) {
      average = isFinite(average) ? average + weight * (losses[i] - average) : losses[i];
      if (i % every !== 0 && i !== losses.length - 1) continue;
      if (i === 0) ctx.moveTo(x(i), y(average));
      else ctx.lineTo(x(i), y(average));
    }
    ctx.stroke();
  }

  function drawAccuracy() {
    var c = fit($("accuracy"));
    var points = history.val;
    var maxStep = Math.max(view.step, 10);
    var area = axes(
      c,
      [0, 0.2, 0.4, 0.6, 0.8, 0.9, 1],
      function (t) { return Math.round(100 * t) + "%"; },
      1,
      0,
      maxStep
    );
    if (points.length === 0) return;
    var ctx = c.context;
    var x = function (s) { return area.left + (s / maxStep) * (area.right - area.left); };
    var y = function (a) { return area.bottom - a * (area.bottom - area.top); };
    ctx.strokeStyle = "#2471a3";
    ctx.fillStyle = "#2471a3";
    ctx.lineWidth = 2;
    ctx.beginPath();
    points.forEach(function (p, i) {
      if (i === 0) ctx.moveTo(x(p.step), y(p.accuracy));
      else ctx.lineTo(x(p.step), y(p.accuracy));
    });
    ctx.stroke();
    var last = points[points.length - 1];
    ctx.beginPath();
    ctx.arc(x(last.step), y(last.accuracy), 3, 0, 2 * Math.PI);
    ctx.fill();
  }

  // Each hidden unit's 784 incoming weights as a 28x28 picture: red positive, blue
  // negative, white zero, each unit on its own symmetric scale (its largest magnitude).
  function drawUnits() {
    var canvas = $("units");
    var weights = view.weights;
    var hidden = view.hidden;
    if (!weights || !hidden) return;
    var cols = Math.min(hidden, hidden > 64 ? 16 : 8);
    var rows = Math.ceil(hidden / cols);
    var tile = 29; // 28 pixels and a 1-pixel gap
    var width = cols * tile - 1;
    var height = rows * tile - 1;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    var ctx = canvas.getContext("2d");
    var image = ctx.createImageData(width, height);
    var pixels = image.data;
    for (var i = 0; i < pixels.length; i += 4) {
      pixels[i] = pixels[i + 1] = pixels[i + 2] = 128;
      pixels[i + 3] = 0; // the gaps stay transparent
    }
    for (var unit = 0; unit < hidden; unit++) {
      var limit = 0;
      for (var p = 0; p < 784; p++) limit = Math.max(limit, Math.abs(weights[p * hidden + unit]));
      if (!(limit > 0) || !isFinite(limit)) limit = 1;
      var left = (unit % cols) * tile;
      var top = Math.floor(unit / cols) * tile;
      for (p = 0; p < 784; p++) {
        var t = weights[p * hidden + unit] / limit;
        var at = 4 * ((top + Math.floor(p / 28)) * width + left + (p % 28));
        var fade = Math.round(255 * (1 - Math.min(Math.abs(t), 1)));
        if (!isFinite(t)) fade = 0;
        pixels[at] = t >= 0 ? 255 : fade;
        pixels[at + 1] = fade;
        pixels[at + 2] = t >= 0 ? fade : 255;
        pixels[at + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
    canvas.style.aspectRatio = width + " / " + height;
    canvas.style.maxWidth = Math.min(100, cols * 12.5) + "%";
  }

  // ------------------------------------------------------------------ the controls
  function rateOf(position) {
    return Number(Math.pow(10, -3 + position / 10).toPrecision(2));
  }

  function positionOfRate(lr) {
    return Math.min(RATES, Math.max(0, Math.round(10 * (Math.log10(lr) + 3))));
  }

  function positionOfBatch(size) {
    var best = 0;
    BATCHES.forEach(function (b, i) {
      if (Math.abs(Math.log(b / size)) < Math.abs(Math.log(BATCHES[best] / size))) best = i;
    });
    return best;
  }

  function showSettings() {
    $("lr").value = String(positionOfRate(settings.lr));
    $("lr-value").textContent = String(settings.lr);
    $("hidden").value = String(Math.round(settings.hidden / HIDDEN_STEP));
    $("hidden-value").textContent = String(settings.hidden);
    $("batch").value = String(positionOfBatch(settings.batchSize));
    $("batch-value").textContent = String(settings.batchSize);
    $("seed-value").textContent = String(settings.seed);
  }

  function reset() {
    return call("reset", { hidden: settings.hidden, seed: settings.seed });
  }

  function running() {
    return view.running;
  }

  $("lr").max = String(RATES);
  $("batch").max = String(BATCHES.length - 1);
  $("lr").addEventListener("input", function () {
    settings.lr = rateOf(Number($("lr").value));
    $("lr-value").textContent = String(settings.lr);
    post("set", { lr: settings.lr, batchSize: settings.batchSize });
  });
  $("batch").addEventListener("input", function () {
    settings.batchSize = BATCHES[Number($("batch").value)];
    $("batch-value").textContent = String(settings.batchSize);
    post("set", { lr: settings.lr, batchSize: settings.batchSize });
  });
  $("hidden").addEventListener("input", function () {
    settings.hidden = Math.max(1, Number($("hidden").value)) * HIDDEN_STEP;
    $("hidden-value").textContent = String(settings.hidden);
  });
  // a new width needs a new network: made when the slider is let go
  $("hidden").addEventListener("change", function () {
    reset().catch(function () {});
  });
  $("start").addEventListener("click", function () {
    if (running()) {
      post("pause");
    } else {
      post("run", { steps: null, lr: settings.lr, batchSize: settings.batchSize });
    }
  });
  $("step").addEventListener("click", function () {
    post("run", { steps: 1, lr: settings.lr, batchSize: settings.batchSize });
  });
  $("reset").addEventListener("click", function () {
    settings.seed += 1;
    showSettings();
    reset().catch(function () {});
  });

  // ------------------------------------------------------------------ try it: draw a digit
  var pad = $("pad");
  var pen = pad.getContext("2d", { willReadFrequently: true });
  var preview = $("preview").getContext("2d");
  var bars = [];
  var drawn = false;
  var asking = null;
  var askAgain = false;

  for (var digit = 0; digit < 10; digit++) {
    var row = document.createElement("div");
    row.className = "mnistkit-learn-bar";
    row.innerHTML =
      '<span class="mnistkit-learn-digit">' + digit + "</span>" +
      '<span class="mnistkit-learn-track"><span class="mnistkit-learn-fill"></span></span>';
    $("bars").appendChild(row);
    bars.push(row);
  }

  function showAnswer(probabilities) {
    var best = -1;
    if (probabilities) {
      best = 0;
      for (var k = 1; k < 10; k++) if (probabilities[k] > probabilities[best]) best = k;
    }
    bars.forEach(function (bar, k) {
      var p = probabilities ? probabilities[k] : 0;
      bar.querySelector(".mnistkit-learn-fill").style.width = (100 * p).toFixed(1) + "%";
      bar.classList.toggle("mnistkit-learn-best", k === best);
    });
    $("answer").textContent = best >= 0 ? String(best) : "?";
    root.setAttribute("data-answer", best >= 0 ? String(best) : "");
  }

  function blank() {
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, pad.width, pad.height);
    preview.fillStyle = "#000";
    preview.fillRect(0, 0, 28, 28);
    drawn = false;
    showAnswer(null);
  }

  // The drawing as the network sees it (the draw-a-digit page's preprocessing), or null.
  function seen() {
    var demo = window.mnistkitDemo;
    if (!demo || !demo.preprocess) {
      status("The drawing cannot be read: _static/mnistkit-demo.js did not load.");
      return null;
    }
    var rgba = pen.getImageData(0, 0, pad.width, pad.height).data;
    var grey = new Float32Array(pad.width * pad.height);
    for (var k = 0; k < grey.length; k++) grey[k] = rgba[4 * k] / 255;
    try {
      return demo.preprocess(grey, pad.width, pad.height);
    } catch (error) {
      return null; // nothing drawn that stands out from the background
    }
  }

  // Read the drawing with the current weights; one question at a time.
  function tryAgain() {
    if (asking) {
      askAgain = true;
      return asking;
    }
    var pixels = seen();
    if (!pixels) {
      showAnswer(null);
      return Promise.resolve(null);
    }
    var image = preview.createImageData(28, 28);
    for (var k = 0; k < 784; k++) {
      var level = Math.round(255 * pixels[k]);
      image.data[4 * k] = image.data[4 * k + 1] = image.data[4 * k + 2] = level;
      image.data[4 * k + 3] = 255;
    }
    preview.putImageData(image, 0, 0);
    asking = predict(pixels).then(
      function (probabilities) {
        asking = null;
        showAnswer(probabilities);
        if (askAgain) {
          askAgain = false;
          return tryAgain();
        }
        return probabilities;
      },
      function (error) {
        asking = null;
        throw error;
      }
    );
    return asking;
  }

  var drawing = false;
  function point(event) {
    var rect = pad.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) * pad.width) / rect.width,
      ((event.clientY - rect.top) * pad.height) / rect.height,
    ];
  }
  pen.lineCap = "round";
  pen.lineJoin = "round";
  pen.strokeStyle = "#fff";
  pen.lineWidth = pad.width / 15;
  pad.addEventListener("pointerdown", function (event) {
    drawing = true;
    pad.setPointerCapture(event.pointerId);
    var p = point(event);
    pen.beginPath();
    pen.moveTo(p[0], p[1]);
    pen.lineTo(p[0], p[1]);
    pen.stroke();
    event.preventDefault();
  });
  pad.addEventListener("pointermove", function (event) {
    if (!drawing) return;
    var p = point(event);
    pen.lineTo(p[0], p[1]);
    pen.stroke();
    pen.beginPath();
    pen.moveTo(p[0], p[1]);
    event.preventDefault();
  });
  function end() {
    if (!drawing) return;
    drawing = false;
    drawn = true;
    tryAgain().catch(function () {});
  }
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  $("clear").addEventListener("click", blank);
  $("try").addEventListener("click", function () {
    var area = $("try-area");
    area.hidden = !area.hidden;
    $("try").setAttribute("aria-expanded", area.hidden ? "false" : "true");
  });
  blank();

  // ------------------------------------------------------------------ the interface
  var queue = Promise.resolve();

  function serial(task) {
    var result = queue.then(task);
    queue = result.catch(function () {});
    return result;
  }

  function predict(pixels) {
    if (!pixels || pixels.length !== 784) {
      return Promise.reject(
        new RangeError("predict: expected 784 pixel values, got " + (pixels && pixels.length))
      );
    }
    return ready.then(function () {
      return call("predict", { pixels: Array.from(pixels) });
    }).then(function (result) {
      return result.probabilities;
    });
  }

  function train(options) {
    var o = Object.assign({}, DEFAULTS, options || {});
    return serial(function () {
      return ready.then(function () {
        settings = { lr: o.lr, hidden: o.hidden, batchSize: o.batchSize, seed: o.seed };
        showSettings();
        return call("reset", { hidden: o.hidden, seed: o.seed });
      }).then(function () {
        return call("run", { steps: o.steps, lr: o.lr, batchSize: o.batchSize });
      }).then(function (result) {
        return { loss: result.loss, valAccuracy: result.valAccuracy };
      });
    });
  }

  function gradients(options) {
    var o = Object.assign({ lr: DEFAULTS.lr }, options || {});
    return ready.then(function () {
      return call("gradients", { hidden: o.hidden, seed: o.seed, batch: o.batch, lr: o.lr });
    });
  }

  var ready = fetch(base + "learn.json")
    .then(function (response) {
      if (!response.ok) throw new Error("learn.json: HTTP " + response.status);
      return response.json();
    })
    .then(function (loaded) {
      info = loaded;
      status("Loading " + format(info.train + info.val, 0) + " digits…");
      return fetch(base + "digits.bin");
    })
    .then(function (response) {
      if (!response.ok) throw new Error("digits.bin: HTTP " + response.status);
      return response.arrayBuffer();
    })
    .then(function (buffer) {
      return call("init", { buffer: buffer, train: info.train, val: info.val }, [buffer]);
    })
    .then(function () {
      showSettings();
      return reset();
    })
    .then(
      function () {
        root.classList.add("mnistkit-learn-ready");
        describe();
      },
      function (error) {
        status("The digits could not be loaded: " + error.message);
        throw error;
      }
    );

  window.mnistkitLearn = {
    ready: ready,
    train: train,
    gradients: gradients,
    predict: predict,
    weights: function () {
      return ready.then(function () {
        return call("weights");
      });
    },
    pause: function () {
      post("pause");
    },
    tryDrawing: function () {
      return tryAgain();
    },
  };
})();
