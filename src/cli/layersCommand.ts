/** `keras2caffe layers`: the supported layer table. */
import { UserError } from '../core/errors.js';

export async function layersCommand(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write('Usage: keras2caffe layers [--markdown]\n\nLists every supported Keras layer, its Caffe mapping per target, and its restrictions.\n');
    return 0;
  }
  const unknown = argv.find((a) => a !== '--markdown');
  if (unknown) throw new UserError(`unknown option '${unknown}' for 'layers'; see keras2caffe layers --help`);
  const { layersMarkdown } = await import('../core/layerDocs.js');
  process.stdout.write(layersMarkdown());
  return 0;
}
