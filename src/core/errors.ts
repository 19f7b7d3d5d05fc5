/** An error caused by the user's input: printed as one line, exit code 2. */
export class UserError extends Error {
  readonly exitCode: number = 2;
  constructor(message: string, readonly layer?: string) {
    super(layer ? `layer '${layer}': ${message}` : message);
    this.name = 'UserError';
  }
}

/** The model file cannot be read as a Keras model. */
export class ModelFileError extends UserError {
  override name = 'ModelFileError';
}

/** The model uses something the converter does not handle (yet). */
export class UnsupportedModelError extends UserError {
  override name = 'UnsupportedModelError';
}

/** Verification found outputs over the tolerance: exit code 3. */
export class VerificationFailed extends Error {
  readonly exitCode = 3;
  override name = 'VerificationFailed';
}
