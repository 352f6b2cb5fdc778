"""The checks of gpugate's cpu-basic suite, written the way users write them
by hand today: pytest over TensorFlow's Python API, the Keras smoke-test
model included. Only used as the baseline in BENCHMARKS.md."""
import time

import numpy as np
import pytest
import tensorflow as tf


def test_tensorflow_loads():
    assert tf.__version__.startswith("2.")


def test_lists_a_cpu_device():
    assert len(tf.config.list_physical_devices("CPU")) >= 1


def _matmul_error(device, n=256):
    rng = np.random.default_rng()
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    with tf.device(device):
        c = tf.linalg.matmul(a, b)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    return c, np.linalg.norm(c.numpy() - ref) / np.linalg.norm(ref)


def test_matmul_on_cpu():
    _, error = _matmul_error("/device:CPU:0")
    assert error < 1e-4


def test_ops_pinned_to_cpu_run_there():
    c, _ = _matmul_error("/device:CPU:0", 64)
    assert c.device.endswith("device:CPU:0")


def test_a_missing_device_is_refused():
    tf.config.set_soft_device_placement(False)
    with pytest.raises((tf.errors.InvalidArgumentError, RuntimeError)):
        with tf.device("/device:GPU:64"):
            tf.linalg.matmul(tf.ones((4, 4)), tf.ones((4, 4))).numpy()


def _fit(x, y, weights):
    model = tf.keras.Sequential([
        tf.keras.Input((784,)),
        tf.keras.layers.Dense(128, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.set_weights(weights)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0,
                        steps_per_epoch=30)
    return history, model.get_weights()


def test_training_is_reproducible():
    rng = np.random.default_rng(20240917)
    x = rng.uniform(0, 1, (30 * 64, 784)).astype(np.float32)
    y = rng.integers(0, 10, 30 * 64)
    init = [rng.uniform(-0.08, 0.08, (784, 128)).astype(np.float32), np.zeros(128, np.float32),
            rng.uniform(-0.2, 0.2, (128, 10)).astype(np.float32), np.zeros(10, np.float32)]
    _, first = _fit(x, y, init)
    _, second = _fit(x, y, init)
    for a, b in zip(first, second):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_matmul_throughput_floor():
    a = tf.random.uniform((512, 512))
    b = tf.random.uniform((512, 512))
    for _ in range(3):
        tf.linalg.matmul(a, b).numpy()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        tf.linalg.matmul(a, b)[0, 0].numpy()
        times.append(time.perf_counter() - start)
    assert 2 * 512**3 / np.median(times) / 1e12 > 0.005
