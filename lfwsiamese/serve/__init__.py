"""Serving a trained model to users without TensorFlow: the shipped model (ONNX Runtime), image inputs with face
alignment, pair scoring exactly as the record's scores were computed, batches of pairs, and a gallery to identify in."""
