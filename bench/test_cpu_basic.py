"""The checks of gpugate's cpu-basic suite, written the way users write them
by hand today: pytest over TensorFlow's Python API. Only used as the
baseline in BENCHMARKS.md."""
import numpy as np
import tensorflow as tf


def test_tensorflow_loads():
    assert tf.__version__.startswith("2.")


def test_lists_a_cpu_device():
    assert len(tf.config.list_physical_devices("CPU")) >= 1


def test_matmul_on_cpu():
    rng = np.random.default_rng()
    a = rng.uniform(-1, 1, (256, 256)).astype(np.float32)
    b = rng.uniform(-1, 1, (256, 256)).astype(np.float32)
    with tf.device("/device:CPU:0"):
        c = tf.linalg.matmul(a, b).numpy()
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert np.linalg.norm(c - ref) / np.linalg.norm(ref) < 1e-4
