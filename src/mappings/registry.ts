import type { LayerMapping } from './types.js';

/** Keras class name → mapping. Registering a class twice is a programming error. */
export class MappingRegistry {
  private readonly byClass = new Map<string, LayerMapping>();
  private readonly all: LayerMapping[] = [];

  register(mapping: LayerMapping): this {
    for (const cls of mapping.kerasClasses) {
      if (this.byClass.has(cls)) throw new Error(`mapping for Keras class '${cls}' is registered twice`);
      this.byClass.set(cls, mapping);
    }
    this.all.push(mapping);
    return this;
  }

  get(kerasClass: string): LayerMapping | undefined {
    return this.byClass.get(kerasClass);
  }

  mappings(): readonly LayerMapping[] {
    return this.all;
  }

  classes(): string[] {
    return [...this.byClass.keys()];
  }
}
