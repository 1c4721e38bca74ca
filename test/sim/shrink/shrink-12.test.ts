import { shrinkSuite } from './cases.js';

shrinkSuite('12');
